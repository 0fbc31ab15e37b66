package admin

import "maps"

// obj is a JSON object in the OpenAPI document.
type obj = map[string]any

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func nullable(typ string, extra obj) obj {
	s := obj{"type": []any{typ, "null"}}
	maps.Copy(s, extra)
	return s
}

func typed(typ string, extra obj) obj {
	s := obj{"type": typ}
	maps.Copy(s, extra)
	return s
}

var dateTime = obj{"format": "date-time"}

// closed is an object schema listing every property as required: the API
// always sends every key, null when unset.
func closed(desc string, props obj) obj {
	req := make([]any, 0, len(props))
	for _, k := range sortedKeys(props) {
		req = append(req, k)
	}
	return obj{"type": "object", "description": desc, "properties": props, "required": req, "additionalProperties": false}
}

// open is a request body schema: only required lists what must be given.
func open(desc string, props obj, required ...any) obj {
	s := obj{"type": "object", "description": desc, "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func webhookProps() obj {
	return obj{
		"id":                         typed("string", obj{"pattern": "^wh_[0-7][0-9A-HJKMNP-TV-Z]{25}$", "description": "\"wh_\" + a ULID."}),
		"url":                        typed("string", obj{"format": "uri", "maxLength": maxURLLength}),
		"description":                typed("string", nil),
		"events":                     typed("array", obj{"items": typed("string", nil), "minItems": 1, "maxItems": maxEvents}),
		"status":                     typed("string", obj{"enum": []any{"active", "inactive", "disabled"}}),
		"disabled_reason":            nullable("string", nil),
		"max_retries":                typed("integer", obj{"minimum": minMaxRetries, "maximum": maxMaxRetries}),
		"timeout_seconds":            typed("integer", obj{"minimum": minTimeout, "maximum": maxTimeout}),
		"headers":                    typed("object", obj{"additionalProperties": typed("string", nil)}),
		"tenant_id":                  nullable("string", nil),
		"partner_id":                 nullable("string", nil),
		"secret_hint":                typed("string", obj{"description": "The secret's first and last characters, e.g. whsec_ab…yz."}),
		"previous_secret_expires_at": nullable("string", obj{"format": "date-time", "description": "Until when the secret replaced by the last rotation still signs; null when none does."}),
		"consecutive_failures":       typed("integer", obj{"minimum": 0}),
		"last_success_at":            nullable("string", dateTime),
		"last_failure_at":            nullable("string", dateTime),
		"created_at":                 typed("string", dateTime),
		"updated_at":                 typed("string", dateTime),
	}
}

func deliveryProps() obj {
	return obj{
		"id":                   typed("integer", obj{"format": "int64"}),
		"webhook_id":           typed("string", nil),
		"event_id":             typed("string", nil),
		"event_type":           typed("string", nil),
		"tenant_id":            nullable("string", nil),
		"partner_id":           nullable("string", nil),
		"status":               typed("string", obj{"enum": []any{"pending", "success", "failed"}}),
		"attempt_count":        typed("integer", obj{"minimum": 0}),
		"next_attempt_at":      nullable("string", dateTime),
		"response_status_code": nullable("integer", nil),
		"error":                nullable("string", nil),
		"duration_ms":          nullable("integer", obj{"description": "Duration of the last attempt; null before the first."}),
		"created_at":           typed("string", dateTime),
		"updated_at":           typed("string", dateTime),
		"completed_at":         nullable("string", dateTime),
	}
}

func pageSchema(desc, item string) obj {
	return closed(desc, obj{
		"items":    typed("array", obj{"items": ref(item)}),
		"total":    typed("integer", obj{"minimum": 0}),
		"page":     typed("integer", obj{"minimum": 1}),
		"per_page": typed("integer", obj{"minimum": 1, "maximum": maxPerPage}),
		"pages":    typed("integer", obj{"minimum": 0}),
	})
}

func schemas(urlDesc string) obj {
	created := webhookProps()
	created["secret"] = typed("string", obj{"pattern": "^whsec_", "description": "The signing secret; shown only here and by rotate-secret."})
	detail := deliveryProps()
	detail["attempts"] = typed("array", obj{"items": ref("Attempt")})
	eventsIn := typed("array", obj{"items": typed("string", nil), "minItems": 1, "maxItems": maxEvents,
		"description": "Patterns: an exact type from GET /events, a prefix \"user.*\", or \"*\"."})
	headersIn := obj{"type": []any{"object", "null"}, "maxProperties": maxHeaders, "additionalProperties": typed("string", obj{"maxLength": maxHeaderValueLen}),
		"description": "Extra headers sent with every attempt; webhookd's own header names are refused."}
	ratio := typed("number", obj{"minimum": 0, "maximum": 1})
	return obj{
		"Webhook":        closed("A registered webhook.", webhookProps()),
		"WebhookCreated": closed("A webhook just created, with its secret.", created),
		"WebhookCreate": open("A new webhook. Ownership: a tenant admin's webhook takes tenant_id and partner_id from the token; a partner admin's takes partner_id from the token and may name a tenant_id; a super admin or admin:write platform token names both or neither (platform-wide).", obj{
			"url":             typed("string", obj{"format": "uri", "maxLength": maxURLLength, "description": urlDesc}),
			"description":     nullable("string", obj{"maxLength": maxDescription}),
			"events":          eventsIn,
			"status":          typed("string", obj{"enum": []any{"active", "inactive"}, "default": "active"}),
			"max_retries":     typed("integer", obj{"minimum": minMaxRetries, "maximum": maxMaxRetries, "default": defaultMaxRetries}),
			"timeout_seconds": typed("integer", obj{"minimum": minTimeout, "maximum": maxTimeout, "default": defaultTimeout}),
			"headers":         headersIn,
			"tenant_id":       nullable("string", obj{"maxLength": maxOwnerIDLength}),
			"partner_id":      nullable("string", obj{"maxLength": maxOwnerIDLength}),
			"secret":          nullable("string", obj{"pattern": "^whsec_[A-Za-z0-9+/]+={0,2}$", "description": "whsec_ + standard base64 of 24–64 bytes; generated when absent."}),
		}, "url", "events"),
		"WebhookUpdate": open("A partial update; absent fields are unchanged. status active re-enables a disabled webhook and clears its failure count. Ownership and secret cannot be changed here.", obj{
			"url":             typed("string", obj{"format": "uri", "maxLength": maxURLLength, "description": urlDesc}),
			"description":     nullable("string", obj{"maxLength": maxDescription}),
			"events":          eventsIn,
			"status":          typed("string", obj{"enum": []any{"active", "inactive"}}),
			"max_retries":     typed("integer", obj{"minimum": minMaxRetries, "maximum": maxMaxRetries}),
			"timeout_seconds": typed("integer", obj{"minimum": minTimeout, "maximum": maxTimeout}),
			"headers":         headersIn,
		}),
		"WebhookPage":    pageSchema("A page of webhooks, newest first.", "Webhook"),
		"Delivery":       closed("One (event, webhook) delivery.", deliveryProps()),
		"DeliveryDetail": closed("A delivery with every attempt, oldest first.", detail),
		"DeliveryPage":   pageSchema("A page of deliveries, newest first.", "Delivery"),
		"Attempt": closed("One HTTP attempt.", obj{
			"attempt":       typed("integer", obj{"minimum": 1}),
			"started_at":    typed("string", dateTime),
			"duration_ms":   typed("integer", obj{"minimum": 0}),
			"status_code":   nullable("integer", nil),
			"error":         nullable("string", nil),
			"response_body": nullable("string", obj{"description": "The first 4 KiB of the response body."}),
			"trigger":       typed("string", obj{"enum": []any{"scheduled", "manual", "test"}}),
		}),
		"Stats": closed("A webhook's delivery figures.", obj{
			"webhook_id":     typed("string", nil),
			"total":          typed("integer", obj{"minimum": 0}),
			"success":        typed("integer", obj{"minimum": 0}),
			"failed":         typed("integer", obj{"minimum": 0}),
			"pending":        typed("integer", obj{"minimum": 0}),
			"success_rate":   ratio,
			"avg_latency_ms": typed("number", obj{"minimum": 0}),
			"p95_latency_ms": typed("number", obj{"minimum": 0}),
			"last_24h": closed("Deliveries created in the last 24 hours.", obj{
				"deliveries":     typed("integer", obj{"minimum": 0}),
				"success_rate":   ratio,
				"avg_latency_ms": typed("number", obj{"minimum": 0}),
			}),
			"consecutive_failures": typed("integer", obj{"minimum": 0}),
			"last_delivery": obj{"oneOf": []any{typed("null", nil), closed("The most recent attempt.", obj{
				"id":                   typed("integer", nil),
				"status":               typed("string", obj{"enum": []any{"pending", "success", "failed"}}),
				"response_status_code": nullable("integer", nil),
				"at":                   typed("string", dateTime),
			})}},
		}),
		"EventType": closed("A catalogue entry.", obj{
			"type":        typed("string", nil),
			"description": typed("string", nil),
			"category":    typed("string", nil),
		}),
		"EventTypes": closed("The event-type catalogue.", obj{
			"items": typed("array", obj{"items": ref("EventType")}),
			"total": typed("integer", obj{"minimum": 0}),
		}),
		"RotateSecretRequest": open("Optional.", obj{
			"grace_period_seconds": typed("integer", obj{"minimum": 0, "maximum": maxGracePeriod, "default": defaultGrace,
				"description": "How long the old secret keeps signing beside the new one; 0 drops it at once."}),
		}),
		"RotateSecretResponse": closed("The new secret.", obj{
			"id":                         typed("string", nil),
			"secret":                     typed("string", obj{"pattern": "^whsec_"}),
			"previous_secret_expires_at": nullable("string", dateTime),
		}),
		"TestRequest": open("Optional.", obj{
			"event_type": nullable("string", obj{"default": testEventType, "description": "A type from the catalogue."}),
			"data":       obj{"type": []any{"object", "null"}, "description": "The event's data object."},
		}),
		"TestResponse": closed("The outcome of the one attempt.", obj{
			"delivery_id": typed("integer", nil),
			"success":     typed("boolean", nil),
			"status_code": nullable("integer", nil),
			"duration_ms": typed("integer", obj{"minimum": 0}),
			"error":       nullable("string", nil),
		}),
		"HTTPError": closed("An error.", obj{"detail": typed("string", nil)}),
		"ValidationError": closed("Every violation of the request.", obj{
			"detail": typed("array", obj{"minItems": 1, "items": closed("One violation.", obj{
				"loc": typed("array", obj{"minItems": 1, "items": obj{"type": []any{"string", "integer"}},
					"prefixItems": []any{typed("string", obj{"enum": []any{"body", "query", "path"}})}}),
				"msg":  typed("string", nil),
				"type": typed("string", nil),
			})}),
		}),
		"Health": closed("Liveness or readiness.", obj{"status": typed("string", obj{"enum": []any{"ok", "unavailable"}})}),
	}
}
