package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// enrollmentTokenEphemeral is wasmbed_enrollment_token: a one-time
// enrollment token for a device, issued at every run and never stored in
// Terraform state or plan (Terraform >= 1.10, OpenTofu >= 1.11).
type enrollmentTokenEphemeral struct{ backend Backend }

var _ ephemeral.EphemeralResourceWithConfigure = (*enrollmentTokenEphemeral)(nil)

func NewEnrollmentTokenEphemeral() ephemeral.EphemeralResource { return &enrollmentTokenEphemeral{} }

type enrollmentTokenModel struct {
	Device     types.String `tfsdk:"device"`
	TTLSeconds types.Int64  `tfsdk:"ttl_seconds"`
	ID         types.String `tfsdk:"id"`
	Token      types.String `tfsdk:"token"`
	ExpiresAt  types.String `tfsdk:"expires_at"`
}

func (e *enrollmentTokenEphemeral) Metadata(_ context.Context, req ephemeral.MetadataRequest, resp *ephemeral.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_enrollment_token"
}

func (e *enrollmentTokenEphemeral) Schema(_ context.Context, _ ephemeral.SchemaRequest, resp *ephemeral.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A one-time enrollment token for a registered device: single use, bound to that device, expiring. " +
			"Ephemeral: Terraform asks for a new one at each run and keeps none in state; pass it to what provisions the device.",
		Attributes: map[string]schema.Attribute{
			"device": schema.StringAttribute{Required: true, Validators: nameValidators, Description: "The device the token enrolls."},
			"ttl_seconds": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(60, 30*24*3600)},
				Description: "Validity; default 86400 (a day)."},
			"id":         schema.StringAttribute{Computed: true, Description: "Token id (not secret), as events and the API list it."},
			"token":      schema.StringAttribute{Computed: true, Sensitive: true, Description: "The token."},
			"expires_at": schema.StringAttribute{Computed: true, Description: "RFC 3339."},
		},
	}
}

func (e *enrollmentTokenEphemeral) Configure(_ context.Context, req ephemeral.ConfigureRequest, resp *ephemeral.ConfigureResponse) {
	e.backend = backendFrom(req.ProviderData, &resp.Diagnostics)
}

func (e *enrollmentTokenEphemeral) Open(ctx context.Context, req ephemeral.OpenRequest, resp *ephemeral.OpenResponse) {
	var m enrollmentTokenModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ttl := time.Duration(m.TTLSeconds.ValueInt64()) * time.Second
	tok, err := e.backend.CreateToken(ctx, m.Device.ValueString(), ttl)
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot issue an enrollment token for "+m.Device.ValueString(), err)
		return
	}
	m.ID, m.Token = types.StringValue(tok.ID), types.StringValue(tok.Token)
	m.ExpiresAt = types.StringValue(tok.ExpiresAt.UTC().Format(time.RFC3339))
	resp.Diagnostics.Append(resp.Result.Set(ctx, &m)...)
}
