// openvpn3 web-page State API (openvpn3 doc/webauth.md): tell an app's embedded
// webview how the login went, so it can close or show itself. Optional on both
// sides: in a normal browser nothing listens and nothing happens.
(function () {
  "use strict";
  var main = document.querySelector("main[data-ovpn-state]");
  if (!main) { return; }
  var message = { type: main.getAttribute("data-ovpn-state") };
  try {
    if (window.appEvent && typeof window.appEvent.postMessage === "function") {
      window.appEvent.postMessage(message);
    } else if (window.parent && window.parent !== window) {
      window.parent.postMessage(message, "*");
    }
  } catch (e) { /* the page works without an app around it */ }
}());
