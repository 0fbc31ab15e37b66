package admin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/scailabs/webhookd/bus"
)

func TestBuiltinCatalog(t *testing.T) {
	t.Parallel()
	c, err := LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	shared, err := os.ReadFile("catalog/event-types.json")
	if err != nil {
		t.Fatal(err)
	}
	var f catalogFile
	if err := json.Unmarshal(shared, &f); err != nil {
		t.Fatal(err)
	}
	for _, e := range f.EventTypes {
		if !c.Has(e.Type) {
			t.Errorf("built-in catalogue lacks %s", e.Type)
		}
	}
	seen := map[string]bool{}
	for _, e := range c.Items() {
		if !bus.ValidEventType(e.Type) {
			t.Errorf("built-in type %q is not a valid event type", e.Type)
		}
		if seen[e.Type] {
			t.Errorf("%s listed twice", e.Type)
		}
		seen[e.Type] = true
		if e.Description == "" || e.Category == "" {
			t.Errorf("%+v lacks a description or category", e)
		}
	}
	for _, must := range []string{"webhook.test", "webhook.auto_disabled"} {
		if !c.Has(must) {
			t.Errorf("catalogue lacks %s", must)
		}
	}
	if c.Has("user.*") || c.Has("") || c.Has("user.exploded") {
		t.Error("Has accepts what is not a type")
	}
	// Items is a copy.
	items := c.Items()
	items[0].Type = "changed"
	if c.Items()[0].Type == "changed" {
		t.Error("Items exposes the catalogue's own slice")
	}
}

// The embedded copy must stay the shared file.
func TestEmbeddedCatalogIsTheSharedFile(t *testing.T) {
	t.Parallel()
	shared, err := os.ReadFile("../../shared/event-types.json")
	if err != nil {
		t.Skipf("shared file not beside the repository: %v", err)
	}
	if string(shared) != string(builtinCatalogJSON) {
		t.Error("admin/catalog/event-types.json differs from /work/shared/event-types.json")
	}
}

func TestLoadCatalogExtra(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := map[string]string{
		"list.json":   `[{"type":"billing.invoice_paid","description":"Paid.","category":"billing"}]`,
		"object.json": `{"event_types":[{"type":"billing.invoice_paid","description":"Paid."}]}`,
		"list.yaml":   "- type: billing.invoice_paid\n  description: Paid.\n  category: billing\n",
		"object.yml":  "event_types:\n  - type: billing.invoice_paid\n    description: Paid.\n",
		"noext":       `[{"type":"billing.invoice_paid"}]`,
		"noext-yaml":  "- type: billing.invoice_paid\n",
	}
	for name, text := range ok {
		c, err := LoadCatalog(write(name, text))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !c.Has("billing.invoice_paid") || !c.Has("user.created") || !c.Has("webhook.test") {
			t.Errorf("%s: extra or built-in types missing", name)
		}
		for _, e := range c.Items() {
			if e.Type == "billing.invoice_paid" && e.Category != "billing" {
				t.Errorf("%s: category %q, want billing (given or from the first token)", name, e.Category)
			}
		}
	}
	// An extra entry may describe a built-in type anew.
	c, err := LoadCatalog(write("override.json", `[{"type":"user.created","description":"New words.","category":"people"}]`))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := LoadCatalog("")
	if len(c.Items()) != len(base.Items()) {
		t.Errorf("override added an entry: %d vs %d", len(c.Items()), len(base.Items()))
	}
	for _, e := range c.Items() {
		if e.Type == "user.created" && (e.Description != "New words." || e.Category != "people") {
			t.Errorf("override = %+v", e)
		}
	}
	for _, e := range base.Items() {
		if e.Type == "user.created" && e.Description == "New words." {
			t.Error("an extra file changed the built-in catalogue")
		}
	}

	bad := map[string]string{
		"bad-type.json":  `[{"type":"Billing.Paid"}]`,
		"pattern.json":   `[{"type":"billing.*"}]`,
		"empty-type.yml": "- description: x\n",
		"unknown.json":   `[{"type":"a.b","colour":"red"}]`,
		"unknown.yaml":   "- type: a.b\n  colour: red\n",
		"trailing.json":  `[{"type":"a.b"}] []`,
		"broken.json":    `[{"type":`,
		"empty.yaml":     "  \n",
	}
	for name, text := range bad {
		if _, err := LoadCatalog(write(name, text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := LoadCatalog(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file accepted")
	}
}
