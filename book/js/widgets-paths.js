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

// The theme's FontAwesome script (loaded with `defer`, so after this file) would replace every
// <i class="fa ..."> with an <svg>, the Play button's icons too; ipywidgets' Play view then
// fails on each tick, and ▶ does nothing. "nest" puts the <svg> inside the <i> instead.
window.FontAwesomeConfig = { ...window.FontAwesomeConfig, autoReplaceSvg: "nest" };
