// The API reference page (/docs): Swagger UI over /openapi.json, which needs a token like every route.
// The token is the web UI's session in this tab, or one typed here; it is sent with the schema request
// and with every request tried from the page (Swagger UI's Authorize button overrides it).

import { describe, session } from "./api.js";

const form = document.getElementById("docs-sign-in");
const error = document.getElementById("docs-error");

async function show(token) {
  const response = await fetch("/openapi.json", { headers: { Authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(describe(response.status, await response.json().catch(() => null)));
  const spec = await response.json();
  form.hidden = true;
  window.SwaggerUIBundle({
    spec,
    domNode: document.getElementById("swagger-ui"),
    validatorUrl: null,
    requestInterceptor: (request) => {
      if (!request.headers.Authorization) request.headers.Authorization = `Bearer ${token}`;
      return request;
    },
  });
}

function ask(message) {
  form.hidden = false;
  error.textContent = message;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = form.elements.token.value.trim();
  if (token) show(token).catch((failure) => ask(failure.message));
});

const current = session();
if (current) show(current.token).catch((failure) => ask(failure.message));
else ask("");
