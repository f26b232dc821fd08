// The widget manager (html-manager/embed-amd.js) loads its icon fonts (the play and stop buttons'
// icons, FontAwesome) relative to the RequireJS path of the module that asks for them:
// "@jupyter-widgets/html-manager/dist/" for the manager, "@jupyter-widgets/" for the controls it
// defines (base, controls). RequireJS would resolve both against each page's own folder; map them
// to the copy in _static/html-manager, next to this file, where the fonts are.
{
  const htmlManager = new URL("html-manager", document.currentScript.src).href;
  require.config({
    paths: {
      "@jupyter-widgets/html-manager/dist": htmlManager,
      "@jupyter-widgets": htmlManager,
    },
  });
}
