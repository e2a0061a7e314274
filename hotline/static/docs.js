"use strict";
// The API documentation (Swagger UI from the swagger-ui-bundle package, served by this service:
// no CDN, works offline; started from this file because the pages allow no inline script).
(function () {
  var el = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: el.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
})();
