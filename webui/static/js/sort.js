/*
 * Sortable report tables: <table class="sortable"> whose header cells hold <button class="sort">.
 * Each cell's data-sort is its raw value; numbers sort as numbers (1, 4, 10, 11), the rest as
 * text, ignoring case. A second click on the same column reverses the order.
 */
(function () {
  "use strict";

  function value(cell) {
    var raw = cell.dataset.sort || "";
    var n = Number(raw);
    return raw !== "" && !isNaN(n) ? n : raw.toLowerCase();
  }

  function sortBy(table, column, button) {
    var body = table.tBodies[0];
    var down = button.getAttribute("aria-sort") !== "ascending";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a.cells[column]), y = value(b.cells[column]);
      if (typeof x !== typeof y) { x = String(x); y = String(y); }
      return (x < y ? -1 : x > y ? 1 : 0) * (down ? 1 : -1);
    });
    rows.forEach(function (r) { body.appendChild(r); });
    table.querySelectorAll("button.sort").forEach(function (b) { b.removeAttribute("aria-sort"); });
    button.setAttribute("aria-sort", down ? "ascending" : "descending");
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("button.sort").forEach(function (button) {
      button.addEventListener("click", function () { sortBy(table, Number(button.dataset.column), button); });
    });
  });
})();
