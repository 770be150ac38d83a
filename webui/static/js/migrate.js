/*
 * The migration page's batch with progress: the ticked engagements go to the API in chunks of a
 * few (each engagement moves in its own transaction on the server), the bar follows, and the
 * outcomes are listed; then the page reloads its dry run. Without scripts the form posts as is.
 */
(function () {
  "use strict";
  var form = document.getElementById("migrate-form");
  if (!form || !window.fetch) { return; }
  var CHUNK = 5;

  function csrf() {
    return (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  }

  form.addEventListener("submit", function (event) {
    var picked = Array.prototype.slice.call(form.querySelectorAll('input[name="engagement"]:checked'));
    var note = form.querySelector("#note").value.trim();
    if (!picked.length || !note) { return; }  // the server says what is missing
    event.preventDefault();
    var ids = picked.map(function (box) { return parseInt(box.value, 10); });
    var expected = {};
    ids.forEach(function (id) {
      var field = form.querySelector('input[name="expected_' + id + '"]');
      if (field) { expected[id] = field.value; }
    });
    var mapping = {};
    (form.querySelector('input[name="mapping"]').value || "").split(/[\n,]/).forEach(function (line) {
      var at = line.indexOf("=");
      if (at > 0) { mapping[line.slice(0, at).trim()] = line.slice(at + 1).trim(); }
    });
    var bar = document.getElementById("migrate-progress");
    var text = document.getElementById("migrate-progress-text");
    var results = document.getElementById("migrate-results");
    var button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    bar.parentNode.hidden = false;
    bar.max = ids.length;
    bar.value = 0;
    var moved = 0, done = 0;

    function show(outcome) {
      done += 1;
      if (outcome.status === "migrated") { moved += 1; }
      var item = document.createElement("li");
      item.className = "outcome " + outcome.status;
      item.textContent = "Engagement " + outcome.engagement_id + ": " + outcome.status + " — " + outcome.message;
      results.appendChild(item);
      bar.value = done;
      text.textContent = done + " of " + ids.length + " done, " + moved + " moved";
    }

    function next(at) {
      if (at >= ids.length) {
        text.textContent = moved + " of " + ids.length + " moved. Reloading the dry run…";
        window.setTimeout(function () { window.location.reload(); }, 1500);
        return;
      }
      var chunk = ids.slice(at, at + CHUNK);
      var want = {};
      chunk.forEach(function (id) { if (expected[id]) { want[id] = expected[id]; } });
      fetch(form.dataset.api, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json, application/problem+json",
                   "X-CSRFToken": csrf() },
        body: JSON.stringify({ engagements: chunk, note: note, mapping: mapping, expected: want })
      }).then(function (r) {
        return r.json().then(function (data) { return { ok: r.ok, data: data }; });
      }).then(function (answer) {
        if (!answer.ok) {
          text.textContent = (answer.data && (answer.data.detail || answer.data.title)) || "the batch was refused";
          button.disabled = false;
          return;
        }
        answer.data.outcomes.forEach(show);
        next(at + CHUNK);
      }).catch(function () {
        text.textContent = "the server did not answer; " + moved + " moved so far";
        button.disabled = false;
      });
    }
    next(0);
  });
}());
