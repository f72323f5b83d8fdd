package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// apiTokenResource is wasmbed_api_token: a named management API token with
// a role. The gateway mints the secret and keeps only its hash; the
// provider keeps the secret in state (sensitive), as the one place it is
// ever shown.
type apiTokenResource struct{ backend Backend }

var (
	_ resource.ResourceWithConfigure   = (*apiTokenResource)(nil)
	_ resource.ResourceWithImportState = (*apiTokenResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*apiTokenResource)(nil)
)

func NewAPITokenResource() resource.Resource { return &apiTokenResource{} }

type apiTokenModel struct {
	ID                types.String `tfsdk:"id"`
	Name              types.String `tfsdk:"name"`
	Role              types.String `tfsdk:"role"`
	Description       types.String `tfsdk:"description"`
	TTLSeconds        types.Int64  `tfsdk:"ttl_seconds"`
	RotateWhenChanged types.Map    `tfsdk:"rotate_when_changed"`
	GraceSeconds      types.Int64  `tfsdk:"grace_seconds"`
	Token             types.String `tfsdk:"token"`
	CreatedAt         types.String `tfsdk:"created_at"`
	ExpiresAt         types.String `tfsdk:"expires_at"`
	RotatedAt         types.String `tfsdk:"rotated_at"`
}

func (r *apiTokenResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_api_token"
}

func (r *apiTokenResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		Description: "A named management API token with a role (standalone backend). The gateway shows its secret once, when it mints or rotates it, " +
			"and keeps only its sha256; this resource keeps the secret in `token`, marked sensitive, so **Terraform state holds it**: keep state encrypted. " +
			"The access log and the audit log name the token. Roles: `reader` reads all but the audit log and API tokens; `operator` also changes devices, " +
			"enrollment tokens, certificates, modules and applications; `admin` also gateways, API tokens and the audit log. The provider's own token must be an admin's.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, Description: "The token name.", PlanModifiers: keep},
			"name": schema.StringAttribute{Required: true, Validators: nameValidators,
				Description:   "The token's name, unique on the gateway (`admin` and `reader` are the gateway's own tokens). Changing it replaces the token.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
			"role": schema.StringAttribute{Required: true, Validators: []validator.String{stringvalidator.OneOf(fleet.Roles...)},
				Description: "`reader`, `operator` or `admin`; changed in place, from the token's next request on."},
			"description": schema.StringAttribute{Optional: true, Validators: []validator.String{stringvalidator.LengthAtMost(256)},
				Description: "What the token is for."},
			"ttl_seconds": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(0),
				Validators:    []validator.Int64{int64validator.Between(0, apiv1.MaxAPITokenTTLSeconds)},
				PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()},
				Description:   "Validity in seconds from minting (and from each rotation), up to 2 years; 0: no expiry. Default: 0. Changing it replaces the token."},
			"rotate_when_changed": schema.MapAttribute{Optional: true, ElementType: types.StringType,
				Description: "Any change of this map rotates the token in place: a new secret in `token`, the old one refused after `grace_seconds` " +
					"(e.g. `{ quarter = \"2026-Q4\" }`)."},
			"grace_seconds": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(0),
				Validators:  []validator.Int64{int64validator.Between(0, apiv1.MaxAPITokenGraceSeconds)},
				Description: "At a rotation, seconds the old secret is still accepted (up to a day), so that its users can switch. Default: 0."},
			"token": schema.StringAttribute{Computed: true, Sensitive: true, PlanModifiers: keep,
				Description: "The bearer token (`wba_<name>.<secret>`); null after an import (rotate to get one)."},
			"created_at": schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "When it was minted, RFC 3339."},
			"expires_at": schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "When it expires, RFC 3339; null: never."},
			"rotated_at": schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "When it was last rotated, RFC 3339; null: never."},
		},
	}
}

func (r *apiTokenResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.backend = backendFrom(req.ProviderData, &resp.Diagnostics)
}

// ModifyPlan plans a new secret when rotate_when_changed changes.
func (r *apiTokenResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	ctx, end := startOp(ctx, "wasmbed_api_token", "plan")
	defer end(&resp.Diagnostics)
	if req.State.Raw.IsNull() || req.Plan.Raw.IsNull() {
		return
	}
	var plan, state apiTokenModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() || plan.RotateWhenChanged.Equal(state.RotateWhenChanged) {
		return
	}
	plan.Token, plan.RotatedAt = types.StringUnknown(), types.StringUnknown()
	if plan.TTLSeconds.ValueInt64() > 0 {
		plan.ExpiresAt = types.StringUnknown()
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

func (m *apiTokenModel) fill(t apiv1.APIToken) {
	m.ID, m.Name, m.Role = types.StringValue(t.Name), types.StringValue(t.Name), types.StringValue(t.Role)
	if t.Description != "" || !m.Description.IsNull() {
		m.Description = types.StringValue(t.Description)
	}
	m.CreatedAt, m.ExpiresAt, m.RotatedAt = timeValue(t.CreatedAt), timeValue(t.ExpiresAt), timeValue(t.RotatedAt)
}

func timeValue(t time.Time) types.String {
	if t.IsZero() {
		return types.StringNull()
	}
	return types.StringValue(t.UTC().Format(time.RFC3339))
}

func (r *apiTokenResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	ctx, end := startOp(ctx, "wasmbed_api_token", "create")
	defer end(&resp.Diagnostics)
	var m apiTokenModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	out, err := r.backend.CreateAPIToken(ctx, apiv1.APITokenRequest{Name: m.Name.ValueString(), Role: m.Role.ValueString(),
		Description: m.Description.ValueString(), TTLSeconds: int(m.TTLSeconds.ValueInt64())})
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot mint API token "+m.Name.ValueString(), err)
		return
	}
	m.fill(out.APIToken)
	m.Token = types.StringValue(out.Token)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *apiTokenResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	ctx, end := startOp(ctx, "wasmbed_api_token", "read")
	defer end(&resp.Diagnostics)
	var m apiTokenModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	t, err := r.backend.GetAPIToken(ctx, m.ID.ValueString())
	if isNotFound(err) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot read API token "+m.ID.ValueString(), err)
		return
	}
	m.fill(t)
	if m.TTLSeconds.IsNull() { // imported: the validity the gateway gave it
		ttl := int64(0)
		if !t.ExpiresAt.IsZero() {
			from := t.CreatedAt
			if !t.RotatedAt.IsZero() {
				from = t.RotatedAt
			}
			ttl = int64(t.ExpiresAt.Sub(from) / time.Second)
		}
		m.TTLSeconds = types.Int64Value(ttl)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *apiTokenResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	ctx, end := startOp(ctx, "wasmbed_api_token", "update")
	defer end(&resp.Diagnostics)
	var plan, state apiTokenModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := state.ID.ValueString()
	role, desc := plan.Role.ValueString(), plan.Description.ValueString()
	t, err := r.backend.UpdateAPIToken(ctx, name, apiv1.APITokenUpdate{Role: &role, Description: &desc})
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot change API token "+name, err)
		return
	}
	plan.Token = state.Token
	if !plan.RotateWhenChanged.Equal(state.RotateWhenChanged) {
		out, err := r.backend.RotateAPIToken(ctx, name, apiv1.APITokenRotation{GraceSeconds: int(plan.GraceSeconds.ValueInt64()),
			TTLSeconds: int(plan.TTLSeconds.ValueInt64())})
		if err != nil {
			apiError(&resp.Diagnostics, "Cannot rotate API token "+name, err)
			return
		}
		t, plan.Token = out.APIToken, types.StringValue(out.Token)
	}
	plan.fill(t)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *apiTokenResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	ctx, end := startOp(ctx, "wasmbed_api_token", "delete")
	defer end(&resp.Diagnostics)
	var m apiTokenModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.backend.DeleteAPIToken(ctx, m.ID.ValueString()); err != nil && !isNotFound(err) {
		apiError(&resp.Diagnostics, "Cannot revoke API token "+m.ID.ValueString(), err)
	}
}

func (r *apiTokenResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	ctx, end := startOp(ctx, "wasmbed_api_token", "import")
	defer end(&resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("grace_seconds"), types.Int64Value(0))...)
}
