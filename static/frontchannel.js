// Front-channel logout page (templates/logout.templ): each app's logout URL is in a hidden
// iframe. The window's load event waits for every iframe, so once it fires (or the page's
// bounded wait runs out, for an app that never answers) the browser goes on to the link's
// target, replacing this page in history so Back does not replay the logout. Without script
// the Continue link does the same.
(function () {
  "use strict";
  var link = document.getElementById("frontchannel-continue");
  if (!link) {
    return;
  }
  var gone = false;
  function go() {
    if (gone) {
      return;
    }
    gone = true;
    window.location.replace(link.href);
  }
  var ms = parseInt(link.getAttribute("data-timeout-ms"), 10);
  window.setTimeout(go, ms > 0 ? ms : 3000);
  if (document.readyState === "complete") {
    go();
  } else {
    window.addEventListener("load", go);
  }
})();
