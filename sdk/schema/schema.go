// Package schema describes the configuration block of a strategy: which
// attributes it accepts, their types, whether they are required and their
// defaults. The host turns a Schema into an HCL decoder, so a mistake in a
// strategy's block is reported with its file, line and column before the
// strategy is configured; the strategy receives the decoded block as JSON.
//
// A Schema is plain data so that it can cross a plugin's process boundary.
package schema

import (
	"errors"
	"fmt"
)

// Type is the type of an attribute's value.
type Type string

// The attribute types a schema can declare. Durations are written as strings
// ("30s", "10m") and parsed by the strategy.
const (
	String     Type = "string"
	Number     Type = "number"
	Bool       Type = "bool"
	ListString Type = "list(string)"
	MapString  Type = "map(string)"
)

// Attribute is one setting of a block.
type Attribute struct {
	Name     string
	Type     Type
	Required bool
	// Default is the JSON encoding of the value used when the attribute is
	// absent (for example `"sessions.db"` or `5`); empty means none.
	Default string
	// Doc is a one-line description shown by `wadi plugin describe`.
	Doc string
}

// Schema is the set of attributes a block accepts. Anything else in the block
// is an error.
type Schema struct {
	Attributes []Attribute
}

// Validate reports a schema that cannot be turned into a decoder: an empty or
// repeated name, an unknown type, or a required attribute with a default.
func (s Schema) Validate() error {
	seen := make(map[string]bool, len(s.Attributes))
	var errs []error
	for _, a := range s.Attributes {
		switch {
		case a.Name == "":
			errs = append(errs, errors.New("schema: attribute with an empty name"))
		case seen[a.Name]:
			errs = append(errs, fmt.Errorf("schema: attribute %q declared twice", a.Name))
		}
		seen[a.Name] = true
		switch a.Type {
		case String, Number, Bool, ListString, MapString:
		default:
			errs = append(errs, fmt.Errorf("schema: attribute %q has unknown type %q", a.Name, a.Type))
		}
		if a.Required && a.Default != "" {
			errs = append(errs, fmt.Errorf("schema: required attribute %q cannot have a default", a.Name))
		}
	}
	return errors.Join(errs...)
}
