// Refreshes the board in place every data-refresh seconds: the new columns replace the old
// ones only when they differ, so the page neither reloads nor flashes. No other script runs.
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board || !window.fetch || !window.DOMParser) { return; }
  var seconds = parseInt(board.getAttribute("data-refresh"), 10);
  if (!(seconds > 0)) { return; }
  var openResolved = function () {
    var details = board.querySelector("details.resolved");
    return details ? details.open : false;
  };
  var refresh = function () {
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    url.hash = "";
    fetch(url.toString(), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null || html === board.innerHTML) { return; }
        var wasOpen = openResolved();
        var parsed = new DOMParser().parseFromString("<div>" + html + "</div>", "text/html");
        var fresh = parsed.body.firstElementChild;
        if (!fresh) { return; }
        board.replaceChildren.apply(board, Array.prototype.slice.call(fresh.childNodes));
        var details = board.querySelector("details.resolved");
        if (details && wasOpen) { details.open = true; }
        board.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () { /* offline for a moment: try again next time */ });
  };
  window.setInterval(refresh, seconds * 1000);
})();
