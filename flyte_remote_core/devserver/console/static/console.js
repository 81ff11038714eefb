// The devserver console's one script. A run page that is not over polls its JSON every
// second and swaps in the server-rendered (already escaped) body until the run ends.
// The sign-in page's form stores a token in a cookie the console accepts like a bearer header.
(function () {
  "use strict";
  var POLL_MS = 1000;
  var main = document.getElementById("console");

  function openDetails() {
    var open = {};
    main.querySelectorAll("details[data-action]").forEach(function (d) {
      open[d.getAttribute("data-action")] = d.open;
    });
    return open;
  }

  function restoreDetails(open) {
    main.querySelectorAll("details[data-action]").forEach(function (d) {
      var name = d.getAttribute("data-action");
      if (Object.prototype.hasOwnProperty.call(open, name)) d.open = open[name];
    });
  }

  function poll(url) {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.json();
      })
      .then(function (data) {
        var open = openDetails();
        main.innerHTML = data.html;
        restoreDetails(open);
        document.title = data.title;
        main.setAttribute("data-terminal", data.terminal ? "true" : "false");
        if (!data.terminal) setTimeout(function () { poll(url); }, POLL_MS);
      })
      .catch(function () {
        // The devserver may be restarting: keep trying, a little slower.
        setTimeout(function () { poll(url); }, POLL_MS * 3);
      });
  }

  if (main && main.getAttribute("data-terminal") === "false" && main.getAttribute("data-poll")) {
    setTimeout(function () { poll(main.getAttribute("data-poll")); }, POLL_MS);
  }

  var form = document.getElementById("token-form");
  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var token = document.getElementById("token-input").value.trim();
      document.cookie = "flyte_console_token=" + encodeURIComponent(token) + "; path=/v2; SameSite=Strict";
      window.location.reload();
    });
  }
  document.documentElement.setAttribute("data-console-ready", "true");
})();
