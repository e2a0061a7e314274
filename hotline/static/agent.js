"use strict";
// Picking a suggestion (click, or Alt+1/2/3 through its accesskey) sets the category and
// refreshes the preview; the agent can still change it in the list.
function pick(button) {
  if (!button || button.disabled) return;
  var select = document.getElementById("category");
  select.value = button.dataset.category;
  select.dispatchEvent(new Event("change", { bubbles: true }));
}
document.addEventListener("click", function (event) {
  pick(event.target.closest("button.suggestion[data-category]"));
});
// Alt+1/2/3 from anywhere in the form, also while typing the content (not the browser's tab keys).
document.addEventListener("keydown", function (event) {
  if (!event.altKey || event.ctrlKey || event.metaKey || !/^[1-3]$/.test(event.key)) return;
  var button = document.querySelector('button.suggestion[data-key="' + event.key + '"]');
  if (!button) return;
  event.preventDefault();
  pick(button);
});
