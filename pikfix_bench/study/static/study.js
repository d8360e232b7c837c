// The raters' page of `pikfix-bench study serve`: no libraries, nothing loaded from elsewhere.
(function () {
  "use strict";
  var RATER = /^[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,63}$/;
  var allowTie = document.body.getAttribute("data-allow-tie") === "true";
  var rater = null;
  var trial = null;
  var shownAt = 0;
  var busy = false;
  var $ = function (id) { return document.getElementById(id); };

  function say(text) { $("status").textContent = text; }

  function setBusy(value) {
    busy = value;
    Array.prototype.forEach.call(document.querySelectorAll("button.choose"), function (b) { b.disabled = value; });
  }

  function unzoom() {
    Array.prototype.forEach.call(document.querySelectorAll(".zoomable"), function (frame) {
      frame.classList.remove("zoomed");
      frame.removeAttribute("data-pinned");
    });
    Array.prototype.forEach.call(document.querySelectorAll("button.zoom"), function (b) {
      b.setAttribute("aria-pressed", "false");
    });
  }

  function show(state) {
    $("progress").max = Math.max(state.total, 1);
    $("progress").value = state.done;
    $("progress-text").textContent = state.done + " of " + state.total + " answered";
    trial = state.trial;
    if (!trial) {
      $("study").hidden = true;
      $("finished").hidden = false;
      $("finished-title").focus();
      return;
    }
    unzoom();
    $("position").textContent = trial.position + " of " + state.total;
    $("input").src = trial.input;
    $("left").src = trial.left;
    $("right").src = trial.right;
    $("reference-figure").hidden = !trial.ref;
    if (trial.ref) { $("ref").src = trial.ref; }
    shownAt = Date.now();
    say("");
  }

  function request(url, options) {
    return fetch(url, options).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error(body.error || response.statusText); }
        return body;
      });
    });
  }

  function start(event) {
    event.preventDefault();
    var name = $("rater").value.trim();
    if (!RATER.test(name)) {
      $("start-error").textContent = "Use 1 to 64 letters, digits, spaces or . _ @ + - (starting with a letter or digit).";
      $("rater").focus();
      return;
    }
    $("start-error").textContent = "";
    request("/api/state?rater=" + encodeURIComponent(name)).then(function (state) {
      rater = name;
      try { window.localStorage.setItem("pikfix-study-rater", name); } catch (e) { /* storage may be off */ }
      $("start").hidden = true;
      $("study").hidden = false;
      show(state);
      if (trial) { $("trial-title").focus(); }
    }).catch(function (error) { $("start-error").textContent = error.message; });
  }

  function choose(choice) {
    if (!trial || busy || (choice === "tie" && !allowTie)) { return; }
    setBusy(true);
    say("Saving…");
    request("/api/choice", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({rater: rater, trial: trial.id, choice: choice, seconds: (Date.now() - shownAt) / 1000})
    }).then(show).catch(function (error) {
      say("Not saved: " + error.message + ". Please try again.");
    }).then(function () { setBusy(false); });
  }

  function zoomAt(frame, event) {
    var box = frame.getBoundingClientRect();
    var x = ((event.clientX - box.left) / box.width) * 100;
    var y = ((event.clientY - box.top) / box.height) * 100;
    frame.querySelector("img").style.transformOrigin = x + "% " + y + "%";
  }

  function toggle(frame) {
    var pinned = !frame.hasAttribute("data-pinned");
    if (pinned) { frame.setAttribute("data-pinned", ""); } else { frame.removeAttribute("data-pinned"); }
    frame.classList.toggle("zoomed", pinned);
    var button = document.querySelector("button.zoom[data-target='" + frame.querySelector("img").id + "']");
    button.setAttribute("aria-pressed", pinned ? "true" : "false");
  }

  Array.prototype.forEach.call(document.querySelectorAll(".zoomable"), function (frame) {
    frame.addEventListener("mouseenter", function () { frame.classList.add("zoomed"); });
    frame.addEventListener("mousemove", function (event) { zoomAt(frame, event); });
    frame.addEventListener("mouseleave", function () {
      if (!frame.hasAttribute("data-pinned")) { frame.classList.remove("zoomed"); }
    });
    frame.addEventListener("click", function (event) { zoomAt(frame, event); toggle(frame); });
  });
  Array.prototype.forEach.call(document.querySelectorAll("button.zoom"), function (button) {
    button.addEventListener("click", function () {
      var frame = $(button.getAttribute("data-target")).parentNode;
      frame.querySelector("img").style.transformOrigin = "50% 50%";
      toggle(frame);
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("button.choose"), function (button) {
    button.addEventListener("click", function () { choose(button.getAttribute("data-choice")); });
  });
  document.addEventListener("keydown", function (event) {
    if (event.target.tagName === "INPUT" || event.altKey || event.ctrlKey || event.metaKey || !trial) { return; }
    var choice = {ArrowLeft: "left", ArrowRight: "right", t: "tie", T: "tie"}[event.key];
    if (choice) {
      event.preventDefault();
      choose(choice);
    }
  });
  $("start").addEventListener("submit", start);
  try { $("rater").value = window.localStorage.getItem("pikfix-study-rater") || ""; } catch (e) { /* storage may be off */ }
  $("rater").focus();
})();
