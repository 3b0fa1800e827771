package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Decode decodes a configuration block, as the host hands it to Configure,
// into v (a pointer to a struct with json tags). It is strict: an attribute v
// does not know, or anything after the object, is an error, because it means
// the plugin and its declared schema disagree. Empty input or null decodes to
// nothing, leaving v's defaults.
func Decode(config []byte, v any) error {
	if len(bytes.TrimSpace(config)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("config: data after the JSON object")
	}
	return nil
}
