// The widget manager (html-manager/embed-amd.js) loads its icon fonts relative to its RequireJS
// module path, "@jupyter-widgets/html-manager/dist/", which RequireJS would resolve against
// each page's folder. Map that path to the copy in _static/html-manager, next to this file.
require.config({
  paths: {
    "@jupyter-widgets/html-manager/dist": new URL("html-manager", document.currentScript.src)
      .href,
  },
});
