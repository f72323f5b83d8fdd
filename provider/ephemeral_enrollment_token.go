package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// enrollmentTokenEphemeral is wasmbed_enrollment_token: a one-time
// enrollment token for a device, never stored in Terraform state or plan
// (Terraform >= 1.10, OpenTofu >= 1.11). Terraform opens an ephemeral
// resource at plan as well as at apply, so it mints only for a device that
// needs a token (not enrolled, or reprovision); wasmbed_provisioning_bundle
// without token_wo mints at apply only and is the form the docs show.
type enrollmentTokenEphemeral struct{ backend Backend }

var _ ephemeral.EphemeralResourceWithConfigure = (*enrollmentTokenEphemeral)(nil)

func NewEnrollmentTokenEphemeral() ephemeral.EphemeralResource { return &enrollmentTokenEphemeral{} }

type enrollmentTokenModel struct {
	Device      types.String `tfsdk:"device"`
	TTLSeconds  types.Int64  `tfsdk:"ttl_seconds"`
	Reprovision types.Bool   `tfsdk:"reprovision"`
	ID          types.String `tfsdk:"id"`
	Token       types.String `tfsdk:"token"`
	ExpiresAt   types.String `tfsdk:"expires_at"`
}

func (e *enrollmentTokenEphemeral) Metadata(_ context.Context, req ephemeral.MetadataRequest, resp *ephemeral.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_enrollment_token"
}

func (e *enrollmentTokenEphemeral) Schema(_ context.Context, _ ephemeral.SchemaRequest, resp *ephemeral.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A one-time enrollment token for a registered device: single use, bound to that device, expiring.\n\n" +
			"**Prefer `wasmbed_provisioning_bundle` without `token_wo`**: it mints the token itself, at apply only, when the device needs one, and deletes it with the bundle. " +
			"This ephemeral resource is for passing a token to something else. Terraform opens ephemeral resources at every plan and apply (OpenTofu too), and each opening mints a token " +
			"for a device that has not enrolled yet (so a plan writes to the gateway); for an enrolled device it mints none (`token` is null) unless `reprovision` is true. " +
			"Tokens minted here are not deleted when another is minted; they expire after `ttl_seconds`, and deleting the device deletes them.\n\n" +
			"**The device must exist when Terraform opens the resource.** Terraform opens it at plan whenever its arguments are known: pass `device = wasmbed_device.NAME.id` " +
			"(unknown until the device is registered, so the first plan defers the token to apply), not `.name` (known at plan, before the device exists: `404 device not found`).",
		Attributes: map[string]schema.Attribute{
			"device": schema.StringAttribute{Required: true, Validators: nameValidators,
				Description: "The device the token enrolls; pass `wasmbed_device.NAME.id` so that Terraform waits for the device to exist."},
			"ttl_seconds": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(60, 30*24*3600)},
				Description: "Validity in seconds, 60 to 30 days. Default: 86400 (a day)."},
			"reprovision": schema.BoolAttribute{Optional: true,
				Description: "Mint a token even though the device has enrolled (to provision it again from scratch). Default: false."},
			"id":         schema.StringAttribute{Computed: true, Description: "Token id (not secret), as events and the API list it; null when no token was minted."},
			"token":      schema.StringAttribute{Computed: true, Sensitive: true, Description: "The token; null when the device has enrolled and `reprovision` is not set."},
			"expires_at": schema.StringAttribute{Computed: true, Description: "Expiry, RFC 3339; null when no token was minted."},
		},
	}
}

func (e *enrollmentTokenEphemeral) Configure(_ context.Context, req ephemeral.ConfigureRequest, resp *ephemeral.ConfigureResponse) {
	e.backend = backendFrom(req.ProviderData, &resp.Diagnostics)
}

func (e *enrollmentTokenEphemeral) Open(ctx context.Context, req ephemeral.OpenRequest, resp *ephemeral.OpenResponse) {
	ctx, end := startOp(ctx, "ephemeral.wasmbed_enrollment_token", "open")
	defer end(&resp.Diagnostics)
	var m enrollmentTokenModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := m.Device.ValueString()
	dev, err := readDevice(ctx, e.backend, name)
	if isNotFound(err) {
		resp.Diagnostics.AddAttributeError(path.Root("device"), "Device "+name+" is not registered (yet)",
			"Terraform opens ephemeral resources during plan whenever their arguments are known, before wasmbed_device has registered a device it creates in the same run. "+
				"Pass the device's id (device = wasmbed_device.NAME.id): it is unknown until the device exists, so Terraform opens the token at apply. "+
				"Or leave the token to wasmbed_provisioning_bundle (omit token_wo): it mints one at apply, only when the device needs it.")
		return
	}
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot read device "+name, err)
		return
	}
	m.ID, m.Token, m.ExpiresAt = types.StringNull(), types.StringNull(), types.StringNull()
	if enrolled(&dev) && !m.Reprovision.ValueBool() {
		// Nothing to mint: the device holds a certificate.
		resp.Diagnostics.Append(resp.Result.Set(ctx, &m)...)
		return
	}
	ttl := time.Duration(m.TTLSeconds.ValueInt64()) * time.Second
	tok, err := e.backend.CreateToken(ctx, name, ttl)
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot issue an enrollment token for "+name, err)
		return
	}
	m.ID, m.Token = types.StringValue(tok.ID), types.StringValue(tok.Token)
	m.ExpiresAt = types.StringValue(tok.ExpiresAt.UTC().Format(time.RFC3339))
	resp.Diagnostics.Append(resp.Result.Set(ctx, &m)...)
}
