// API Gateway's own CORS answer for the HTTP API (serverless.yml: provider.httpApi.cors), read
// from the same settings the functions use, so that a preflight never invokes a function.
// List settings take a comma-separated string or a JSON list, as in lib/config.py.
"use strict";

function list(name, fallback) {
  const text = (process.env[name] || "").trim();
  if (!text) return fallback;
  if (text.startsWith("[")) return JSON.parse(text).map(String);
  return text.split(",").map((item) => item.trim()).filter(Boolean);
}

function flag(name, fallback) {
  const text = (process.env[name] || "").trim().toLowerCase();
  if (!text) return fallback;
  return ["1", "true", "yes", "on"].includes(text);
}

module.exports.cors = () => {
  const origins = list("CORS_ORIGINS", []);
  if (origins.includes("*")) throw new Error("CORS_ORIGINS: '*' is refused in production");
  return {
    allowedOrigins: origins,
    allowedHeaders: list("CORS_ALLOW_HEADERS", ["Authorization", "Content-Type", "X-Refresh-Token-Transport"]),
    allowedMethods: list("CORS_ALLOW_METHODS", ["GET", "POST", "PATCH", "DELETE", "OPTIONS"]),
    allowCredentials: flag("CORS_ALLOW_CREDENTIALS", true),
    exposedResponseHeaders: ["Retry-After", "WWW-Authenticate", "ETag", "X-Request-ID"],
    maxAge: 600,
  };
};
