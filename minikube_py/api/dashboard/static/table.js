// A sortable, filterable table that keeps its sort and filter while its rows are replaced (live data).
import { el } from "./util.js";

/**
 * columns: [{title, value(row) → sort/filter key, render(row) → Node|string (default: value), opt: hide on phones}]
 * Returns {element, update(rows)}; `key(row)` names a row (data-key, for tests and stable identity);
 * `readyMark` names the performance mark set when the first rows are drawn (bench/dashboard.py reads it).
 */
export function liveTable({ columns, key, empty = "Nothing here.", id, readyMark }) {
  let rows = [];
  let loaded = false; // until the first update the body says so, rather than "nothing here"
  let sortIndex = 0;
  let ascending = true;
  const filter = el("input", { type: "search", placeholder: "Filter…", "aria-label": "Filter" });
  const count = el("span", { class: "muted" });
  const head = el("tr", {}, columns.map((column, index) => el("th", {
    class: column.opt ? "opt" : null,
    onclick: () => {
      ascending = sortIndex === index ? !ascending : true;
      sortIndex = index;
      draw();
    },
  }, column.title)));
  const body = el("tbody");
  const element = el("section", { class: "live-table", id },
    el("div", { class: "table-tools" }, filter, count),
    el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), body)));
  filter.addEventListener("input", draw);
  draw();

  function cellValue(column, row) {
    const value = column.value(row);
    return value === undefined || value === null ? "" : value;
  }

  function draw() {
    const needle = filter.value.trim().toLowerCase();
    const shown = rows.filter((row) => !needle ||
      columns.some((column) => String(cellValue(column, row)).toLowerCase().includes(needle)));
    const column = columns[sortIndex];
    shown.sort((a, b) => {
      const x = cellValue(column, a);
      const y = cellValue(column, b);
      const order = typeof x === "number" && typeof y === "number" ? x - y
        : String(x).localeCompare(String(y), undefined, { numeric: true });
      return ascending ? order : -order;
    });
    [...head.children].forEach((th, index) => {
      th.classList.toggle("sorted-asc", index === sortIndex && ascending);
      th.classList.toggle("sorted-desc", index === sortIndex && !ascending);
    });
    body.replaceChildren(...(shown.length ? shown.map((row) => el("tr", { "data-key": key(row) },
      columns.map((c) => el("td", { class: c.opt ? "opt" : null }, c.render ? c.render(row) : String(cellValue(c, row))))))
      : [el("tr", {}, el("td", { colspan: columns.length, class: "muted" },
        !loaded ? "Loading…" : rows.length ? "No row matches the filter." : empty))]));
    count.textContent = needle ? `${shown.length} of ${rows.length}` : `${rows.length}`;
    if (loaded && readyMark && !performance.getEntriesByName(readyMark).length) performance.mark(readyMark);
  }

  let pending = false;
  return {
    element,
    /** Replace the rows; redraws at most once per animation frame however fast a watch delivers. */
    update(next) {
      rows = [...next];
      loaded = true;
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; draw(); });
    },
  };
}
