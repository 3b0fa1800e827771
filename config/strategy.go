package config

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/wadi-go/wadi/sdk/schema"
)

// strategyKinds maps a strategy block's type to the SDK kind it configures.
var strategyKinds = map[string]string{
	"store":       "store",
	"codec":       "codec",
	"router":      "router",
	"replication": "replicator",
}

// decodeStrategy decodes a strategy block such as `store "file" {...}`
// against the schema its strategy declares. The body is decoded with hcldec
// straight from the parsed file, so a typo in a plugin's setting is reported
// at its own line and column.
func (d *decoder) decodeStrategy(block *hcl.Block) *Strategy {
	kind, name := strategyKinds[block.Type], block.Labels[0]
	nameRange := block.DefRange
	if len(block.LabelRanges) > 0 {
		nameRange = block.LabelRanges[0]
	}

	plugin := d.plugins[name]
	var sch schema.Schema
	err := ErrUnknownStrategy
	if d.schemas != nil {
		sch, err = d.schemas(kind, name, plugin)
	}
	if errors.Is(err, ErrUnknownStrategy) {
		d.diags = append(d.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Unknown %s", kind),
			Detail:   fmt.Sprintf("unknown %s %q: no built-in strategy or declared plugin provides it.", kind, name),
			Subject:  nameRange.Ptr(),
		})
		return nil
	}
	if err != nil {
		d.diags = append(d.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Cannot load %s %q", kind, name),
			Detail:   err.Error(),
			Subject:  nameRange.Ptr(),
		})
		return nil
	}

	spec, err := objectSpec(sch)
	if err != nil {
		// The file is fine; the strategy's declaration is not. Point at the
		// block so the user knows which strategy to report.
		d.diags = append(d.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid schema for %s %q", kind, name),
			Detail:   fmt.Sprintf("The %s %q declares a schema that cannot be used: %v", kind, name, err),
			Subject:  nameRange.Ptr(),
		})
		return nil
	}

	val, diags := hcldec.Decode(block.Body, spec, d.ctx)
	for _, diag := range diags {
		// hcldec's details do not say which block they are about.
		diag.Detail = fmt.Sprintf("%s %q: %s", kind, name, diag.Detail)
	}
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	if !val.IsWhollyKnown() {
		// Unreachable with the functions we provide, but ctyjson would fail.
		d.diags = append(d.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid %s %q", kind, name),
			Detail:   "Every value in the block must be known when the configuration is read.",
			Subject:  block.DefRange.Ptr(),
		})
		return nil
	}
	js, err := ctyjson.Marshal(val, val.Type())
	if err != nil {
		d.diags = append(d.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid %s %q", kind, name),
			Detail:   fmt.Sprintf("The block cannot be encoded for the strategy: %v.", err),
			Subject:  block.DefRange.Ptr(),
		})
		return nil
	}
	return &Strategy{Kind: kind, Name: name, Plugin: plugin, Config: json.RawMessage(js), DeclRange: block.DefRange}
}

// objectSpec turns a strategy's schema into an hcldec spec: one attribute
// per schema attribute, wrapped in a DefaultSpec when it has a default.
func objectSpec(s schema.Schema) (hcldec.ObjectSpec, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	spec := make(hcldec.ObjectSpec, len(s.Attributes))
	for _, a := range s.Attributes {
		ty, err := ctyType(a.Type)
		if err != nil {
			return nil, err
		}
		var as hcldec.Spec = &hcldec.AttrSpec{Name: a.Name, Type: ty, Required: a.Required}
		if a.Default != "" {
			def, err := ctyjson.Unmarshal([]byte(a.Default), ty)
			if err != nil {
				return nil, fmt.Errorf("attribute %q: default %s is not a %s: %w", a.Name, a.Default, a.Type, err)
			}
			as = &hcldec.DefaultSpec{Primary: as, Default: &hcldec.LiteralSpec{Value: def}}
		}
		spec[a.Name] = as
	}
	return spec, nil
}

func ctyType(t schema.Type) (cty.Type, error) {
	switch t {
	case schema.String:
		return cty.String, nil
	case schema.Number:
		return cty.Number, nil
	case schema.Bool:
		return cty.Bool, nil
	case schema.ListString:
		return cty.List(cty.String), nil
	case schema.MapString:
		return cty.Map(cty.String), nil
	}
	return cty.NilType, fmt.Errorf("unknown type %q", t)
}
