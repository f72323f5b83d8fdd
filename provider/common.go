package provider

import (
	"context"
	"fmt"
	"regexp"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/fleet"
)

// nameValidators check a device, gateway, application or label name as the
// protocol does (protocol.ValidName), at validate time.
var nameValidators = []validator.String{
	stringvalidator.LengthBetween(1, 64),
	stringvalidator.RegexMatches(regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`),
		"must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"),
}

var versionValidators = []validator.String{
	stringvalidator.LengthBetween(1, 64),
	stringvalidator.RegexMatches(regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`),
		"must be 1 to 64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit"),
}

var boardValidators = []validator.String{stringvalidator.OneOf(board.Names()...)}

// backendFrom takes the Backend that Configure put into ProviderData.
func backendFrom(data any, diags *diag.Diagnostics) Backend {
	if data == nil {
		return nil // not configured yet (validate, early plan)
	}
	b, ok := data.(Backend)
	if !ok {
		diags.AddError("Unexpected provider data", fmt.Sprintf("expected a Backend, got %T: this is a bug in the provider", data))
	}
	return b
}

func stringMap(ctx context.Context, m types.Map, diags *diag.Diagnostics) map[string]string {
	if m.IsNull() || m.IsUnknown() {
		return nil
	}
	out := map[string]string{}
	diags.Append(m.ElementsAs(ctx, &out, false)...)
	return out
}

// mapValue keeps a null map null when the API returns an empty one, so an
// unset attribute never shows a diff.
func mapValue(m map[string]string, prior types.Map) types.Map {
	if len(m) == 0 && prior.IsNull() {
		return types.MapNull(types.StringType)
	}
	vals := map[string]attr.Value{}
	for k, v := range m {
		vals[k] = types.StringValue(v)
	}
	return types.MapValueMust(types.StringType, vals)
}

func stringList(ctx context.Context, l types.List, diags *diag.Diagnostics) []string {
	if l.IsNull() || l.IsUnknown() {
		return nil
	}
	var out []string
	diags.Append(l.ElementsAs(ctx, &out, false)...)
	return out
}

func listValue(s []string, prior types.List) types.List {
	if len(s) == 0 && prior.IsNull() {
		return types.ListNull(types.StringType)
	}
	vals := make([]attr.Value, len(s))
	for i, v := range s {
		vals[i] = types.StringValue(v)
	}
	return types.ListValueMust(types.StringType, vals)
}

func apiError(diags *diag.Diagnostics, what string, err error) {
	diags.AddError(what, err.Error())
}

// labelsValidator checks a label map at validate time as the gateway does
// (fleet.ValidateLabels: at most fleet.MaxLabels, keys and values names).
type labelsValidator struct{}

var labelValidators = []validator.Map{labelsValidator{}}

func (labelsValidator) Description(context.Context) string {
	return fmt.Sprintf("at most %d labels; keys and values 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (a value may be empty)", fleet.MaxLabels)
}

func (v labelsValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (labelsValidator) ValidateMap(ctx context.Context, req validator.MapRequest, resp *validator.MapResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	labels := map[string]string{}
	for k, v := range req.ConfigValue.Elements() {
		s, ok := v.(types.String)
		if !ok || s.IsUnknown() {
			return // checked at apply
		}
		labels[k] = s.ValueString()
	}
	if err := fleet.ValidateLabels(labels); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid labels", err.Error())
	}
}
