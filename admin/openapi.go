package admin

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// openAPIDocument builds the OpenAPI 3.1 document served at /openapi.json.
// A test drives every route and validates each live answer against the
// schema this document gives for it, so the two cannot drift apart.
func openAPIDocument(cfg Config) ([]byte, error) {
	urlDesc := "https URL of the receiver, without credentials."
	if cfg.AllowHTTP {
		urlDesc = "http or https URL of the receiver, without credentials."
	}
	paths := obj{}
	for _, p := range []string{basePath, basePath + "/"} {
		suffix := ""
		if p != basePath {
			suffix = "Slash"
		}
		paths[p] = obj{
			"get": op("listWebhooks"+suffix, "List webhooks",
				"Webhooks visible to the caller, newest first. tenant_id and partner_id narrow the list (partner_id: the partner's own and all its tenants' webhooks).",
				[]any{pref("Page"), pref("PerPage"), pref("TenantID"), pref("PartnerID")}, nil,
				responses("200", "A page of webhooks.", "WebhookPage", 401, 403, 422)),
			"post": op("createWebhook"+suffix, "Create a webhook", "The answer carries the signing secret, shown only here.",
				nil, body("WebhookCreate", true),
				responses("201", "The webhook, with its secret.", "WebhookCreated", 401, 403, 413, 422)),
		}
	}
	id := []any{pref("WebhookID")}
	withDelivery := []any{pref("WebhookID"), pref("DeliveryID")}
	paths[basePath+"/events"] = obj{
		"get": op("listEventTypes", "List event types", "The catalogue of event types a webhook may subscribe to exactly.",
			nil, nil, responses("200", "The catalogue.", "EventTypes", 401, 403)),
	}
	paths[basePath+"/{webhook_id}"] = obj{
		"get": op("getWebhook", "Get a webhook", "", id, nil, responses("200", "The webhook.", "Webhook", 401, 403, 404)),
		"patch": op("updateWebhook", "Update a webhook", "A partial update; status active re-enables a disabled webhook and clears its failure count.",
			id, body("WebhookUpdate", true), responses("200", "The updated webhook.", "Webhook", 401, 403, 404, 413, 422)),
		"delete": op("deleteWebhook", "Delete a webhook", "The webhook, its history and its pending deliveries are dropped.",
			id, nil, responses("204", "Deleted.", "", 401, 403, 404)),
	}
	paths[basePath+"/{webhook_id}/deliveries"] = obj{
		"get": op("listDeliveries", "List deliveries", "Newest first.",
			[]any{pref("WebhookID"), pref("Page"), pref("PerPage"), pref("DeliveryStatus")}, nil,
			responses("200", "A page of deliveries.", "DeliveryPage", 401, 403, 404, 422)),
	}
	paths[basePath+"/{webhook_id}/deliveries/{delivery_id}"] = obj{
		"get": op("getDelivery", "Get a delivery", "With every attempt.", withDelivery, nil,
			responses("200", "The delivery.", "DeliveryDetail", 401, 403, 404, 422)),
	}
	paths[basePath+"/{webhook_id}/deliveries/{delivery_id}/retry"] = obj{
		"post": op("retryDelivery", "Retry a delivery",
			"A failed or successful delivery goes back to pending and is attempted again now; its attempt history is kept. 409 when it is already pending or its event is no longer retained.",
			withDelivery, nil, responses("200", "The requeued delivery.", "DeliveryDetail", 401, 403, 404, 409, 422)),
	}
	paths[basePath+"/{webhook_id}/rotate-secret"] = obj{
		"post": op("rotateSecret", "Rotate the signing secret",
			"A new secret signs from now on; the old one keeps signing beside it until previous_secret_expires_at.",
			id, body("RotateSecretRequest", false), responses("200", "The new secret.", "RotateSecretResponse", 401, 403, 404, 413, 422)),
	}
	paths[basePath+"/{webhook_id}/stats"] = obj{
		"get": op("webhookStats", "Delivery statistics", "", id, nil, responses("200", "The figures.", "Stats", 401, 403, 404)),
	}
	paths[basePath+"/{webhook_id}/test"] = obj{
		"post": op("testWebhook", "Send a test event",
			"One synchronous attempt, recorded as a delivery, never retried. A failing endpoint is still a 200 with success false.",
			id, body("TestRequest", false), responses("200", "The attempt's outcome.", "TestResponse", 401, 403, 404, 413, 422)),
	}
	public := []any{}
	paths["/openapi.json"] = obj{"get": publicOp("getOpenAPI", "This document", obj{"200": obj{"description": "The OpenAPI document.",
		"content": obj{"application/json": obj{"schema": typed("object", nil)}}}}, public)}
	paths["/healthz"] = obj{"get": publicOp("healthz", "Liveness", obj{"200": jsonResponse("Alive.", "Health")}, public)}
	paths["/readyz"] = obj{"get": publicOp("readyz", "Readiness", obj{
		"200": jsonResponse("Ready.", "Health"), "503": jsonResponse("Not ready.", "Health")}, public)}
	if cfg.Metrics != nil {
		paths["/metrics"] = obj{"get": publicOp("metrics", "Prometheus metrics", obj{"200": obj{"description": "Metrics in the Prometheus text format.",
			"content": obj{"text/plain": obj{"schema": typed("string", nil)}}}}, public)}
	}

	doc := obj{
		"openapi":           "3.1.0",
		"jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
		"info": obj{
			"title":       "webhookd admin API",
			"version":     "1",
			"description": "Manage webhooks, their deliveries and secrets. Every route under /api/v1/admin/webhooks needs a bearer JWT: role super_admin, a platform token (platform_token: true) with scope admin:read (reads) or admin:write (everything), role partner_admin with partner_id, or role tenant_admin with tenant_id. Objects outside the caller's scope answer 404.",
		},
		"paths":    paths,
		"security": []any{obj{"bearerAuth": []any{}}},
		"components": obj{
			"securitySchemes": obj{"bearerAuth": obj{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
			"schemas":         schemas(urlDesc),
			"parameters": obj{
				"WebhookID":  param("webhook_id", "path", true, typed("string", nil), ""),
				"DeliveryID": param("delivery_id", "path", true, typed("integer", obj{"format": "int64"}), ""),
				"Page":       param("page", "query", false, typed("integer", obj{"minimum": 1, "default": 1}), ""),
				"PerPage":    param("per_page", "query", false, typed("integer", obj{"minimum": 1, "maximum": maxPerPage, "default": defaultPerPage}), ""),
				"TenantID":   param("tenant_id", "query", false, typed("string", nil), "Only webhooks of this tenant."),
				"PartnerID":  param("partner_id", "query", false, typed("string", nil), "Only webhooks of this partner (partner-level and its tenants')."),
				"DeliveryStatus": param("status", "query", false,
					typed("string", obj{"enum": []any{"pending", "success", "failed"}}), "Only deliveries in this state."),
			},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("admin: openapi document: %w", err)
	}
	return b, nil
}

func op(id, summary, desc string, params []any, reqBody obj, resps obj) obj {
	o := obj{"operationId": id, "summary": summary, "tags": []any{"webhooks"}, "responses": resps}
	if desc != "" {
		o["description"] = desc
	}
	if len(params) > 0 {
		o["parameters"] = params
	}
	if reqBody != nil {
		o["requestBody"] = reqBody
	}
	return o
}

func publicOp(id, summary string, resps obj, security []any) obj {
	return obj{"operationId": id, "summary": summary, "tags": []any{"operations"}, "security": security, "responses": resps}
}

func pref(name string) obj { return obj{"$ref": "#/components/parameters/" + name} }

func param(name, in string, required bool, schema obj, desc string) obj {
	p := obj{"name": name, "in": in, "required": required, "schema": schema}
	if desc != "" {
		p["description"] = desc
	}
	return p
}

func body(schema string, required bool) obj {
	return obj{"required": required, "content": obj{"application/json": obj{"schema": ref(schema)}}}
}

func jsonResponse(desc, schema string) obj {
	return obj{"description": desc, "content": obj{"application/json": obj{"schema": ref(schema)}}}
}

var errorDescriptions = map[int]string{
	401: "Missing, malformed, expired or otherwise invalid bearer token.",
	403: "The token's role or scope does not allow this.",
	404: "No such object, or one outside the caller's scope.",
	409: "The delivery is already pending, or its event is no longer retained.",
	413: "The request body is too large.",
	422: "The request is invalid; every violation is listed.",
}

// responses is the success answer plus the listed errors and the 500 every
// route may give.
func responses(code, desc, schema string, errs ...int) obj {
	r := obj{}
	if schema == "" {
		r[code] = obj{"description": desc}
	} else {
		r[code] = jsonResponse(desc, schema)
	}
	for _, e := range errs {
		s := "HTTPError"
		if e == 422 {
			s = "ValidationError"
		}
		r[strconv.Itoa(e)] = jsonResponse(errorDescriptions[e], s)
	}
	r["500"] = jsonResponse("Internal error; the cause is logged, not sent.", "HTTPError")
	r["503"] = jsonResponse("The service is shutting down.", "HTTPError")
	return r
}

func sortedKeys(m obj) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
