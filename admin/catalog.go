package admin

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/scailabs/webhookd/bus"
)

//go:embed catalog/event-types.json
var builtinCatalogJSON []byte

// EventType is one catalogue entry.
type EventType struct {
	Type        string `json:"type" yaml:"type"`
	Description string `json:"description" yaml:"description"`
	Category    string `json:"category" yaml:"category"`
}

// Catalog is the set of event types a webhook may name exactly. It is
// immutable once loaded.
type Catalog struct {
	items []EventType
	index map[string]int
}

// catalogFile is the shape of the built-in file; an extra file may use it
// or be a bare list of entries.
type catalogFile struct {
	About      string      `json:"about" yaml:"about"`
	EventTypes []EventType `json:"event_types" yaml:"event_types"`
}

// alwaysPresent are the types webhookd itself emits.
var alwaysPresent = []EventType{
	{Type: "webhook.test", Category: "webhook", Description: "A test event sent from the admin API."},
	{Type: "webhook.auto_disabled", Category: "webhook", Description: "A webhook was disabled after too many consecutive failures."},
}

var builtin = sync.OnceValues(func() (*Catalog, error) {
	var f catalogFile
	if err := decodeJSONStrict(builtinCatalogJSON, &f); err != nil {
		return nil, fmt.Errorf("admin: built-in event catalogue: %w", err)
	}
	c := &Catalog{index: map[string]int{}}
	// The embedded types are checked by a test, not at every start.
	if err := c.merge(append(f.EventTypes, alwaysPresent...), false, false); err != nil {
		return nil, fmt.Errorf("admin: built-in event catalogue: %w", err)
	}
	return c, nil
})

// LoadCatalog returns the built-in catalogue plus, when extraPath is set,
// the entries of that file: JSON or YAML (by extension, else by content),
// either a list of {type, description, category} or an object with an
// "event_types" list. An extra entry naming a built-in type replaces its
// description and category.
func LoadCatalog(extraPath string) (*Catalog, error) {
	base, err := builtin()
	if err != nil {
		return nil, err
	}
	if extraPath == "" {
		return base, nil
	}
	b, err := os.ReadFile(extraPath)
	if err != nil {
		return nil, fmt.Errorf("admin: read event catalogue: %w", err)
	}
	extra, err := parseCatalogFile(extraPath, b)
	if err != nil {
		return nil, fmt.Errorf("admin: event catalogue %s: %w", extraPath, err)
	}
	c := &Catalog{items: append([]EventType(nil), base.items...), index: make(map[string]int, len(base.index))}
	for k, v := range base.index {
		c.index[k] = v
	}
	if err := c.merge(extra, true, true); err != nil {
		return nil, fmt.Errorf("admin: event catalogue %s: %w", extraPath, err)
	}
	return c, nil
}

func parseCatalogFile(path string, b []byte) ([]EventType, error) {
	ext := strings.ToLower(filepath.Ext(path))
	trimmed := bytes.TrimSpace(b)
	isJSON := ext == ".json" || (ext != ".yaml" && ext != ".yml" && len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '['))
	if len(trimmed) == 0 {
		return nil, errors.New("empty file")
	}
	if isJSON {
		if trimmed[0] == '[' {
			var list []EventType
			return list, decodeJSONStrict(trimmed, &list)
		}
		var f catalogFile
		return f.EventTypes, decodeJSONStrict(trimmed, &f)
	}
	var node yaml.Node
	if err := yaml.Unmarshal(trimmed, &node); err != nil {
		return nil, fmt.Errorf("decode yaml: %w", err)
	}
	if len(node.Content) == 1 && node.Content[0].Kind == yaml.SequenceNode {
		var list []EventType
		return list, decodeYAMLStrict(trimmed, &list)
	}
	var f catalogFile
	return f.EventTypes, decodeYAMLStrict(trimmed, &f)
}

func decodeJSONStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode json: %w", err)
	}
	if dec.More() {
		return errors.New("decode json: unexpected data after the value")
	}
	return nil
}

func decodeYAMLStrict(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode yaml: %w", err)
	}
	return nil
}

// merge adds entries; replace says whether an entry may replace one
// already present (an operator's file may; alwaysPresent must not replace
// the file's own entries), check whether types are validated.
func (c *Catalog) merge(entries []EventType, replace, check bool) error {
	for _, e := range entries {
		e.Type = strings.TrimSpace(e.Type)
		if e.Type == "" || check && !bus.ValidEventType(e.Type) {
			return fmt.Errorf("invalid event type %q", e.Type)
		}
		if e.Category == "" {
			e.Category, _, _ = strings.Cut(e.Type, ".")
		}
		if i, ok := c.index[e.Type]; ok {
			if replace {
				c.items[i] = e
			}
			continue
		}
		c.index[e.Type] = len(c.items)
		c.items = append(c.items, e)
	}
	return nil
}

// Has reports whether eventType is in the catalogue.
func (c *Catalog) Has(eventType string) bool {
	_, ok := c.index[eventType]
	return ok
}

// Items returns a copy of the entries, built-in ones first, in file order.
func (c *Catalog) Items() []EventType {
	return append([]EventType(nil), c.items...)
}
