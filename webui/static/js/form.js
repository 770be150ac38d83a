// Task forms: add and remove rows of array fields; an approval's comment is required unless approving.
(function () {
  "use strict";

  function renumber(table) {
    var name = table.dataset.rows;
    table.querySelectorAll("tbody tr.row").forEach(function (row, i) {
      row.querySelectorAll("[name]").forEach(function (input) {
        var rest = input.name.slice(name.length + 1).replace(/^\d+/, String(i));
        input.name = name + "/" + rest;
        if (input.id) input.id = "f-" + input.name; // ids stay unique after a row is copied
        var label = input.getAttribute("aria-label");
        if (label) input.setAttribute("aria-label", label.replace(/\d+$/, String(i + 1)));
      });
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLElement)) return;
    if (target.classList.contains("add-row")) {
      var table = document.querySelector('table[data-rows="' + target.dataset.for + '"]');
      var rows = table.querySelectorAll("tbody tr.row");
      var copy = rows[rows.length - 1].cloneNode(true);
      copy.querySelectorAll("input, textarea, select").forEach(function (input) {
        if (input.type === "checkbox" || input.type === "radio") input.checked = false;
        else input.value = "";
      });
      copy.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
      table.querySelector("tbody").appendChild(copy);
      renumber(table);
      var first = copy.querySelector("input, textarea, select");
      if (first) first.focus();
    } else if (target.classList.contains("remove-row")) {
      var row = target.closest("tr.row");
      var body = row.parentElement;
      var owner = row.closest("table");
      if (body.querySelectorAll("tr.row").length > 1) row.remove();
      else row.querySelectorAll("input, textarea, select").forEach(function (input) { input.value = ""; });
      renumber(owner);
    } else if (target.dataset.decision) {
      var comment = document.getElementById("f-" + target.dataset.comment);
      if (comment) comment.required = target.dataset.decision !== "approved";
    }
  });
})();
