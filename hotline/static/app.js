"use strict";
// Shared page behaviour, served as a file: the Content-Security-Policy allows no inline script.
// A form with data-confirm asks before it is sent (e.g. rolling back the dispatch model).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
