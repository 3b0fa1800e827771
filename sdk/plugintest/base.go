package plugintest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wadi-go/wadi/sdk/base"
	"github.com/wadi-go/wadi/sdk/schema"
)

// Configs are configuration blocks for TestPlugin, each as the host hands it
// to Configure: a JSON object.
type Configs struct {
	// Valid are configs the plugin must accept. There must be at least one,
	// and each must look exactly like what the host sends: a JSON object with
	// every attribute of the plugin's schema and no other, each of its
	// declared type, or null for an attribute that is neither required nor
	// has a default. The first one is the plugin's configuration when
	// TestPlugin returns.
	Valid [][]byte
	// Invalid are configs the plugin must reject with an error: values out of
	// range, malformed durations, contradictory settings. The kit adds its
	// own: malformed JSON, JSON that is not an object, trailing data, and an
	// attribute the schema does not declare.
	Invalid [][]byte
}

// promptly bounds how long the kits wait for a call that must not hang: a
// call with a context that is already done, or one given corrupt or hostile
// input. A call still running then fails the test; the goroutine running it
// is abandoned.
var promptly = 5 * time.Second

// unknownAttribute is the attribute name the kit adds to a valid config to
// check that the plugin rejects attributes it does not know.
const unknownAttribute = "no_such_attribute_xyz"

// TestPlugin runs the tests every plugin must pass, whatever its kind: who it
// says it is, its configuration schema, and how it takes a configuration.
//
// p must not have been configured yet: the kit calls Info and Schema first,
// to check that they do not need Configure. It then calls Configure many
// times, with valid, invalid and cancelled configurations, so p must accept
// being configured again; the last successful call wins. When TestPlugin
// returns, p is configured with c.Valid[0].
//
// want is the kind p must report. A plugin's test typically runs TestPlugin
// on one instance and the kit of its kind on others:
//
//	func TestConformance(t *testing.T) {
//		plugintest.TestPlugin(t, mycodec.New(), base.KindCodec, plugintest.Configs{
//			Valid:   [][]byte{[]byte(`{"key":"0123456789abcdef0123456789abcdef"}`)},
//			Invalid: [][]byte{[]byte(`{"key":"short"}`)},
//		})
//		plugintest.TestCodec(t, func(t *testing.T) codec.Codec { … })
//	}
func TestPlugin(t *testing.T, p base.Plugin, want base.Kind, c Configs) {
	t.Helper()
	if p == nil {
		t.Fatal("TestPlugin: the plugin is nil")
	}
	if !slices.Contains(base.Kinds, want) {
		t.Fatalf("TestPlugin: kind %q is not one of %q", want, base.Kinds)
	}
	if len(c.Valid) == 0 {
		t.Fatal("TestPlugin: Configs.Valid is empty; give at least one config the plugin accepts")
	}
	k := &pluginKit{p: p, want: want, c: c}
	// The order matters: Info and Schema run before anything configures p,
	// and later tests compare against what they saw.
	tests := []struct {
		name string
		run  func(*testing.T)
	}{
		{"Info", k.testInfo},
		{"Schema", k.testSchema},
		{"SchemaDefaults", k.testSchemaDefaults},
		{"ValidConfigsMatchSchema", k.testValidConfigsMatchSchema},
		{"Configure", k.testConfigure},
		{"ValidAfterInvalid", k.testValidAfterInvalid},
		{"ConfigureKeepsInfoAndSchema", k.testConfigureKeepsInfoAndSchema},
		{"DoneContext", k.testDoneContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

type pluginKit struct {
	p    base.Plugin
	want base.Kind
	c    Configs

	// What Info and Schema returned before any Configure; ok once known.
	info     base.Info
	infoOK   bool
	schema   schema.Schema
	schemaOK bool
}

func node(t *testing.T) base.Node {
	return base.Node{Name: "node-a", Zone: "zone-1", DataDir: t.TempDir()}
}

// testInfo pins down Info: a name and a version, the kind the plugin is
// tested as, the SDK's API version among those it speaks, and the same
// answer on every call, before any Configure.
func (k *pluginKit) testInfo(t *testing.T) {
	ctx := t.Context()
	info, err := k.p.Info(ctx)
	if err != nil {
		t.Fatalf("Info before Configure: %v", err)
	}
	for _, f := range []struct{ field, v string }{{"Name", info.Name}, {"Version", info.Version}} {
		if strings.TrimSpace(f.v) == "" {
			t.Errorf("Info().%s = %q; want a non-empty value", f.field, f.v)
		} else if strings.TrimSpace(f.v) != f.v {
			t.Errorf("Info().%s = %q; want no surrounding space", f.field, f.v)
		}
	}
	if info.Kind != k.want {
		t.Errorf("Info().Kind = %q; want %q", info.Kind, k.want)
	}
	if !slices.Contains(info.APIVersions, base.APIVersion) {
		t.Errorf("Info().APIVersions = %v; want it to contain base.APIVersion (%d)", info.APIVersions, base.APIVersion)
	}
	seen := map[int]bool{}
	for _, v := range info.APIVersions {
		if v < 1 {
			t.Errorf("Info().APIVersions = %v contains %d; versions start at 1", info.APIVersions, v)
		}
		if seen[v] {
			t.Errorf("Info().APIVersions = %v lists %d twice", info.APIVersions, v)
		}
		seen[v] = true
	}
	for i := range 2 {
		again, err := k.p.Info(ctx)
		if err != nil {
			t.Fatalf("Info, call %d: %v", i+2, err)
		}
		if !reflect.DeepEqual(again, info) {
			t.Errorf("Info, call %d = %+v; the first call returned %+v", i+2, again, info)
		}
	}
	if !t.Failed() {
		k.info, k.infoOK = info, true
	}
}

// testSchema pins down Schema: available before Configure, accepted by
// schema.Validate (so the host can build a decoder from it), and the same on
// every call.
func (k *pluginKit) testSchema(t *testing.T) {
	ctx := t.Context()
	s, err := k.p.Schema(ctx)
	if err != nil {
		t.Fatalf("Schema before Configure: %v", err)
	}
	if err := s.Validate(); err != nil {
		t.Errorf("Schema().Validate(): %v", err)
	}
	for i := range 2 {
		again, err := k.p.Schema(ctx)
		if err != nil {
			t.Fatalf("Schema, call %d: %v", i+2, err)
		}
		if !sameSchema(again, s) {
			t.Errorf("Schema, call %d = %+v; the first call returned %+v", i+2, again, s)
		}
	}
	if !t.Failed() {
		k.schema, k.schemaOK = s, true
	}
}

// sameSchema compares schemas, taking a nil and an empty attribute list as
// one (they are one on the wire).
func sameSchema(a, b schema.Schema) bool {
	return slices.Equal(a.Attributes, b.Attributes)
}

// testSchemaDefaults checks that every attribute's Default is the JSON
// encoding of a value of the attribute's type, since the host decodes it as
// such.
func (k *pluginKit) testSchemaDefaults(t *testing.T) {
	s := k.needSchema(t)
	for _, a := range s.Attributes {
		if a.Default == "" {
			continue
		}
		if err := checkJSONType(a.Type, []byte(a.Default)); err != nil {
			t.Errorf("attribute %q: Default %s: %v", a.Name, a.Default, err)
		}
	}
}

func (k *pluginKit) needSchema(t *testing.T) schema.Schema {
	t.Helper()
	if !k.schemaOK {
		t.Skip("no valid schema to check against: see the Schema test")
	}
	return k.schema
}

// testValidConfigsMatchSchema checks the test's own Configs.Valid against the
// schema, so that the plugin is tested with what the host really sends.
func (k *pluginKit) testValidConfigsMatchSchema(t *testing.T) {
	s := k.needSchema(t)
	for i, cfg := range k.c.Valid {
		if err := matchSchema(s, cfg); err != nil {
			t.Errorf("Configs.Valid[%d] %s is not what the host sends for this schema: %v", i, describe(cfg), err)
		}
	}
}

// matchSchema reports how cfg differs from a block the host would send for s.
func matchSchema(s schema.Schema, cfg []byte) error {
	obj, err := jsonObject(cfg)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range s.Attributes {
		v, ok := obj[a.Name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("attribute %q is missing (the host sends every attribute)", a.Name))
		case string(v) == "null":
			if a.Required || a.Default != "" {
				errs = append(errs, fmt.Errorf("attribute %q is null, but it is required or has a default", a.Name))
			}
		default:
			if err := checkJSONType(a.Type, v); err != nil {
				errs = append(errs, fmt.Errorf("attribute %q: %v", a.Name, err))
			}
		}
		delete(obj, a.Name)
	}
	for _, name := range sortedKeys(obj) {
		errs = append(errs, fmt.Errorf("attribute %q is not in the schema", name))
	}
	return errors.Join(errs...)
}

// jsonObject decodes a JSON object, keeping its values raw.
func jsonObject(b []byte) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if obj == nil {
		return nil, errors.New("not a JSON object: null")
	}
	return obj, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkJSONType reports whether raw is a single JSON value of type ty.
func checkJSONType(ty schema.Type, raw []byte) error {
	if !json.Valid(raw) {
		return errors.New("not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	ok := false
	switch ty {
	case schema.String:
		_, ok = v.(string)
	case schema.Number:
		_, ok = v.(json.Number)
	case schema.Bool:
		_, ok = v.(bool)
	case schema.ListString:
		var l []any
		l, ok = v.([]any)
		for _, e := range l {
			if _, isString := e.(string); !isString {
				ok = false
			}
		}
	case schema.MapString:
		var m map[string]any
		m, ok = v.(map[string]any)
		for _, e := range m {
			if _, isString := e.(string); !isString {
				ok = false
			}
		}
	default:
		return fmt.Errorf("unknown type %q", ty)
	}
	if !ok {
		return fmt.Errorf("%s is not a %s", raw, ty)
	}
	return nil
}

// invalidConfig is a config the plugin must reject, named for its subtest.
type invalidConfig struct {
	name string
	cfg  []byte
}

// invalidConfigs are the test's own invalid configs and the kit's.
func (k *pluginKit) invalidConfigs(t *testing.T) []invalidConfig {
	t.Helper()
	var cfgs []invalidConfig
	for i, cfg := range k.c.Invalid {
		cfgs = append(cfgs, invalidConfig{fmt.Sprintf("%d", i), cfg})
	}
	valid := bytes.TrimSpace(k.c.Valid[0])
	cfgs = append(cfgs,
		invalidConfig{"not-json", []byte(`{"unterminated`)},
		invalidConfig{"array", []byte(`[]`)},
		invalidConfig{"string", []byte(`"config"`)},
		invalidConfig{"trailing-data", append(slices.Clip(valid), []byte(` {}`)...)},
		invalidConfig{"unknown-attribute-alone", []byte(`{"` + unknownAttribute + `": 1}`)},
	)
	// The first valid config with one more attribute: a plugin that ignores
	// attributes it does not know disagrees with its own schema.
	if obj, err := jsonObject(valid); err == nil {
		obj[unknownAttribute] = json.RawMessage(`1`)
		b, err := json.Marshal(obj)
		if err != nil {
			t.Fatalf("encoding a config: %v", err)
		}
		cfgs = append(cfgs, invalidConfig{"unknown-attribute", b})
	}
	return cfgs
}

// testConfigure checks that every valid config is accepted and every invalid
// one rejected with an error. A plugin must reject an attribute it does not
// know: the host sends exactly the attributes of the plugin's schema, so an
// unknown one means the plugin and its schema disagree.
func (k *pluginKit) testConfigure(t *testing.T) {
	t.Run("Valid", func(t *testing.T) {
		for i, cfg := range k.c.Valid {
			if err := k.p.Configure(t.Context(), cfg, node(t)); err != nil {
				t.Errorf("Configure(Valid[%d] %s): %v", i, describe(cfg), err)
			}
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		for _, ic := range k.invalidConfigs(t) {
			t.Run(ic.name, func(t *testing.T) {
				var err error
				if !guard(t, "Configure", promptly, func() { err = k.p.Configure(t.Context(), ic.cfg, node(t)) }) {
					return
				}
				if err == nil {
					t.Errorf("Configure(%s) = nil; want an error", describe(ic.cfg))
				}
			})
		}
	})
}

// testValidAfterInvalid checks that a rejected config leaves the plugin able
// to take a valid one: the host reconfigures a plugin after a failed attempt.
func (k *pluginKit) testValidAfterInvalid(t *testing.T) {
	for _, ic := range k.invalidConfigs(t) {
		if !guard(t, "Configure", promptly, func() { _ = k.p.Configure(t.Context(), ic.cfg, node(t)) }) {
			return
		}
		if err := k.p.Configure(t.Context(), k.c.Valid[0], node(t)); err != nil {
			t.Errorf("Configure(Valid[0]) after Configure(%s invalid config %s): %v", ic.name, describe(ic.cfg), err)
		}
	}
}

// testConfigureKeepsInfoAndSchema checks that Info and Schema do not depend on
// the configuration: the host reads them before it configures the plugin.
func (k *pluginKit) testConfigureKeepsInfoAndSchema(t *testing.T) {
	if !k.infoOK || !k.schemaOK {
		t.Skip("no Info or Schema to compare with: see the Info and Schema tests")
	}
	ctx := t.Context()
	// Valid[0] last, so that it is the configuration TestPlugin leaves.
	for i := len(k.c.Valid) - 1; i >= 0; i-- {
		if err := k.p.Configure(ctx, k.c.Valid[i], node(t)); err != nil {
			t.Fatalf("Configure(Valid[%d]): %v", i, err)
		}
		info, err := k.p.Info(ctx)
		if err != nil {
			t.Errorf("Info after Configure(Valid[%d]): %v", i, err)
		} else if !reflect.DeepEqual(info, k.info) {
			t.Errorf("Info after Configure(Valid[%d]) = %+v; before Configure it was %+v", i, info, k.info)
		}
		s, err := k.p.Schema(ctx)
		if err != nil {
			t.Errorf("Schema after Configure(Valid[%d]): %v", i, err)
		} else if !sameSchema(s, k.schema) {
			t.Errorf("Schema after Configure(Valid[%d]) = %+v; before Configure it was %+v", i, s, k.schema)
		}
	}
}

// doneContexts are contexts that are already done, and the error a call
// given one may return.
func doneContexts(t *testing.T) []struct {
	name string
	ctx  context.Context
	want error
} {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	t.Cleanup(cancel2)
	return []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"Canceled", cancelled, context.Canceled},
		{"DeadlineExceeded", expired, context.DeadlineExceeded},
	}
}

// checkDoneErr checks the error of a call given a done context: none (the
// call did its work at once) or one wrapping the context's error, so that the
// host can tell a cancellation from a failure of the plugin.
func checkDoneErr(t *testing.T, call string, err, want error) {
	t.Helper()
	if err != nil && !errors.Is(err, want) {
		t.Errorf("%s with a done context: %v; want no error or one wrapping %v", call, err, want)
	}
}

// testDoneContext checks that Info, Schema and Configure given a done context
// return promptly, with no error or one wrapping the context's error, and that
// the plugin still takes a valid config afterwards.
func (k *pluginKit) testDoneContext(t *testing.T) {
	for _, tt := range doneContexts(t) {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if guard(t, "Info", promptly, func() { _, err = k.p.Info(tt.ctx) }) {
				checkDoneErr(t, "Info", err, tt.want)
			}
			if guard(t, "Schema", promptly, func() { _, err = k.p.Schema(tt.ctx) }) {
				checkDoneErr(t, "Schema", err, tt.want)
			}
			if guard(t, "Configure", promptly, func() { err = k.p.Configure(tt.ctx, k.c.Valid[0], node(t)) }) {
				checkDoneErr(t, "Configure", err, tt.want)
			}
			if t.Failed() {
				return
			}
			if err := k.p.Configure(t.Context(), k.c.Valid[0], node(t)); err != nil {
				t.Errorf("Configure(Valid[0]) after a Configure with a done context: %v", err)
			}
		})
	}
}

// guard runs f on a goroutine of its own and waits for it at most d. It
// reports whether f returned normally; if f panicked or is still running
// after d, it fails t (and abandons f's goroutine). f's results may be read
// only if guard returns true.
func guard(t testing.TB, call string, d time.Duration, f func()) bool {
	t.Helper()
	type outcome struct {
		panicked bool
		value    any
		stack    []byte
	}
	done := make(chan outcome, 1)
	go func() {
		returned := false
		defer func() {
			if returned {
				done <- outcome{}
				return
			}
			done <- outcome{panicked: true, value: recover(), stack: debug.Stack()}
		}()
		f()
		returned = true
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case o := <-done:
		if o.panicked {
			t.Errorf("%s panicked: %v\n%s", call, o.value, o.stack)
			return false
		}
		return true
	case <-timer.C:
		t.Errorf("%s did not return within %v", call, d)
		return false
	}
}
