package provider

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wasmbed/wasmbed/firmware/provision"
)

// bundleResource is wasmbed_provisioning_bundle: the file a device needs on
// its first start (gateway addresses, CA root, its name and board, and a
// one-time enrollment token), written where the operator flashes or copies
// it from. The token reaches the file, never Terraform's state or plan.
//
// The token is minted here, at apply, and only when the device needs one:
// when the bundle is created for a device that has not enrolled, or when
// token_wo_version is set or changed (re-provisioning). Minting deletes the
// device's earlier tokens, so a device has at most the one its bundle
// holds; destroying the bundle deletes it. Plan and refresh never write to
// the gateway. A token can still be passed in token_wo instead.
type bundleResource struct{ backend Backend }

var (
	_ resource.ResourceWithConfigure  = (*bundleResource)(nil)
	_ resource.ResourceWithModifyPlan = (*bundleResource)(nil)
)

func NewProvisioningBundleResource() resource.Resource { return &bundleResource{} }

type bundleModel struct {
	ID              types.String `tfsdk:"id"`
	Device          types.String `tfsdk:"device"`
	Gateways        types.List   `tfsdk:"gateways"`
	ServerName      types.String `tfsdk:"server_name"`
	Path            types.String `tfsdk:"path"`
	TokenWO         types.String `tfsdk:"token_wo"`
	TokenWOVersion  types.Int64  `tfsdk:"token_wo_version"`
	TokenTTLSeconds types.Int64  `tfsdk:"token_ttl_seconds"`
	TokenID         types.String `tfsdk:"token_id"`
	TokenExpiresAt  types.String `tfsdk:"token_expires_at"`
	Board           types.String `tfsdk:"board"`
	FirmwareImage   types.String `tfsdk:"firmware_image"`
	FirmwareOutput  types.String `tfsdk:"firmware_output"`
}

// bundleFile is the bundle's JSON, as the Go agent (agent.Bundle) and the
// firmware's provisioning tool read it.
type bundleFile struct {
	Gateways     []string  `json:"gateways"`
	CARoot       string    `json:"ca_root"`
	ServerName   string    `json:"server_name,omitempty"`
	Device       string    `json:"device"`
	Token        string    `json:"token"`
	TokenExpires time.Time `json:"token_expires,omitzero"`
	Board        string    `json:"board"`
}

func (r *bundleResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_provisioning_bundle"
}

func (r *bundleResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		Description: "Writes a device's provisioning bundle (JSON: gateway addresses, the CA root, device name and board, one-time enrollment token) to a file (mode 0600), " +
			"for the Go agent (`wasmbed-agent -bundle FILE`) or the firmware's provisioning tool. " +
			"With `firmware_image` it also writes a provisioned copy of a firmware image (what `wasmbed-provision` does), so `terraform apply` yields flashable files.\n\n" +
			"**The enrollment token** is minted by this resource at apply, never at plan, and only when the device needs one: when the bundle is created for a device that has not enrolled yet, " +
			"or when `token_wo_version` is set or changed (re-provisioning an enrolled device). Minting deletes the tokens issued for the device before, so a device has at most the one " +
			"its bundle holds; destroying the bundle (or the device) deletes it. The token reaches the file, never Terraform's state or plan; `token_id` and `token_expires_at` are not secret.\n\n" +
			"**A deleted bundle file** (good hygiene once the device has enrolled: it holds a token) is left deleted, with no change planned, when the device has enrolled. " +
			"While the device has not enrolled, the next plan warns and creates the bundle again with a new token (the old one is deleted); the same happens when the token expired before the device enrolled. " +
			"To write the file of an enrolled device again, set or bump `token_wo_version`.\n\n" +
			"A token from elsewhere (the `wasmbed_enrollment_token` ephemeral resource) can be passed in `token_wo` instead; then this resource mints none.",
		Attributes: map[string]schema.Attribute{
			"id":     schema.StringAttribute{Computed: true, Description: "The file path.", PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"device": schema.StringAttribute{Required: true, Validators: nameValidators, PlanModifiers: replace, Description: "The registered device. Changing it replaces the bundle."},
			"gateways": schema.ListAttribute{Required: true, ElementType: types.StringType,
				Validators:    []validator.List{listvalidator.SizeAtLeast(1)},
				PlanModifiers: []planmodifier.List{listplanmodifier.RequiresReplace()},
				Description:   "Gateway device endpoints, `host:port`, tried in order. Changing them replaces the bundle."},
			"server_name": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				Description: "Name the gateway's certificate must carry; default: the host dialled."},
			"path": schema.StringAttribute{Required: true, PlanModifiers: replace, Description: "Where to write the bundle. Changing it replaces the bundle."},
			"token_wo": schema.StringAttribute{Optional: true, WriteOnly: true, Sensitive: true,
				Description: "A one-time enrollment token to write instead of minting one (write-only: never stored). Default: none, the resource mints the token the device needs at apply."},
			"token_wo_version": schema.Int64Attribute{Optional: true,
				Description: "Re-provisioning: set or change it to write the bundle again with a new token, minted at apply even if the device has enrolled (or with the new `token_wo`); removing it changes nothing. Default: none."},
			"token_ttl_seconds": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(int64(defaultTokenTTL / time.Second)),
				Validators:  []validator.Int64{int64validator.Between(60, 30*24*3600)},
				Description: "Validity of a token this resource mints, in seconds (60 to 30 days); changing it applies to the next token minted. Default: 86400 (a day)."},
			"token_id": schema.StringAttribute{Computed: true,
				Description: "Id (not secret) of the token this resource minted, as the gateway lists it (`GET /v1/tokens?device=`); empty when it minted none."},
			"token_expires_at": schema.StringAttribute{Computed: true,
				Description: "Expiry (RFC 3339) of the token this resource minted; empty when it minted none."},
			"firmware_image": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				Validators:  []validator.String{stringvalidator.AlsoRequires(path.MatchRoot("firmware_output"), path.MatchRoot("server_name"))},
				Description: "A firmware image for the device's board (the ELF `make firmware` builds, `bin/firmware/<board>.elf`): the bundle is also written into a copy of it, at `firmware_output`, ready to flash or boot in an emulator. The firmware checks the gateway's certificate against a DNS name, so `server_name` is required with it. Default: none."},
			"firmware_output": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				Validators:  []validator.String{stringvalidator.AlsoRequires(path.MatchRoot("firmware_image"))},
				Description: "Where to write the provisioned firmware image (mode 0600: it holds the token); removed like the bundle file (see above)."},
			"board": schema.StringAttribute{Computed: true, PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
				Description: "The device's board, from its registration."},
		},
	}
}

// ModifyPlan keeps the token attributes of the state unless the bundle is
// written again (token_wo_version set or changed).
func (r *bundleResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	ctx, end := startOp(ctx, "wasmbed_provisioning_bundle", "plan")
	defer end(&resp.Diagnostics)
	if req.State.Raw.IsNull() || req.Plan.Raw.IsNull() {
		return
	}
	var st, pl bundleModel
	resp.Diagnostics.Append(req.State.Get(ctx, &st)...)
	resp.Diagnostics.Append(req.Plan.Get(ctx, &pl)...)
	if resp.Diagnostics.HasError() || reprovision(&st, &pl) {
		return
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("token_id"), st.TokenID)...)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("token_expires_at"), st.TokenExpiresAt)...)
}

func (r *bundleResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.backend = backendFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *bundleResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	ctx, end := startOp(ctx, "wasmbed_provisioning_bundle", "create")
	defer end(&resp.Diagnostics)
	var m bundleModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// A new bundle holds a token if the device has not enrolled, or if
	// re-provisioning is asked for (token_wo_version set).
	r.write(ctx, &m, req.Config, !m.TokenWOVersion.IsNull(), &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// write writes the bundle (and firmware image) of m, with the token from
// config's token_wo, or one it mints when the device has not enrolled or
// reprovision says so.
func (r *bundleResource) write(ctx context.Context, m *bundleModel, config tfsdkConfig, reprovision bool, diags *diag.Diagnostics) {
	var given types.String
	diags.Append(config.GetAttribute(ctx, path.Root("token_wo"), &given)...)
	if diags.HasError() {
		return
	}
	name := m.Device.ValueString()
	dev, err := r.backend.GetDevice(ctx, name)
	if err != nil {
		apiError(diags, "Cannot read device "+name, err)
		return
	}
	root, err := r.backend.CA(ctx)
	if err != nil {
		apiError(diags, "Cannot read the CA root", err)
		return
	}
	b := bundleFile{Gateways: stringList(ctx, m.Gateways, diags), CARoot: root, ServerName: m.ServerName.ValueString(),
		Device: dev.Name, Board: dev.Board}
	m.TokenID, m.TokenExpiresAt = types.StringValue(""), types.StringValue("")
	switch {
	case !given.IsNull() && given.ValueString() != "":
		b.Token = given.ValueString()
	case reprovision || !enrolled(&dev):
		tok, err := mintToken(ctx, r.backend, name, time.Duration(m.TokenTTLSeconds.ValueInt64())*time.Second)
		if err != nil {
			apiError(diags, "Cannot issue an enrollment token for "+name, err)
			return
		}
		b.Token, b.TokenExpires = tok.Token, tok.ExpiresAt.UTC()
		m.TokenID, m.TokenExpiresAt = types.StringValue(tok.ID), types.StringValue(b.TokenExpires.Format(time.RFC3339))
	default:
		diags.AddWarning("Bundle written without an enrollment token",
			fmt.Sprintf("Device %s has enrolled (certificate %s), so the bundle at %s holds no token: the device keeps its identity. "+
				"To provision it again from scratch, set or bump token_wo_version: the next apply mints a token.", name, dev.Status.CertSerial, m.Path.ValueString()))
	}
	writeBundle(m.Path.ValueString(), &b, diags)
	if !m.FirmwareImage.IsNull() {
		writeFirmware(m.FirmwareImage.ValueString(), m.FirmwareOutput.ValueString(), &b, diags)
	}
	if diags.HasError() {
		return
	}
	m.ID, m.Board, m.TokenWO = m.Path, types.StringValue(dev.Board), types.StringNull()
}

func writeBundle(p string, b *bundleFile, diags *diag.Diagnostics) {
	js, err := json.MarshalIndent(b, "", "  ")
	if err == nil {
		if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			tmp := p + ".tmp"
			if err = os.WriteFile(tmp, append(js, '\n'), 0o600); err == nil {
				err = os.Rename(tmp, p)
			}
		}
	}
	if err != nil {
		diags.AddAttributeError(path.Root("path"), "Cannot write the bundle", err.Error())
	}
}

// writeFirmware writes b into a copy of the firmware image at in (its config
// area, firmware/provision), to out.
func writeFirmware(in, out string, b *bundleFile, diags *diag.Diagnostics) {
	image, err := os.ReadFile(in)
	if err != nil {
		diags.AddAttributeError(path.Root("firmware_image"), "Cannot read the firmware image", err.Error())
		return
	}
	blk, _ := pem.Decode([]byte(b.CARoot))
	if blk == nil {
		diags.AddError("Cannot read the CA root", "the gateway's CA root is not PEM")
		return
	}
	pb := provision.Bundle{Gateways: b.Gateways, ServerName: b.ServerName, CARoot: blk.Bytes, Device: b.Device, Token: b.Token, Board: b.Board}
	raw, err := pb.Marshal()
	if err == nil {
		image, err = provision.Write(image, raw, -1)
	}
	if err != nil {
		diags.AddAttributeError(path.Root("firmware_image"), "Cannot provision the firmware image", fmt.Sprintf("%s: %v", in, err))
		return
	}
	if err = os.MkdirAll(filepath.Dir(out), 0o755); err == nil {
		tmp := out + ".tmp"
		if err = os.WriteFile(tmp, image, 0o600); err == nil {
			err = os.Rename(tmp, out)
		}
	}
	if err != nil {
		diags.AddAttributeError(path.Root("firmware_output"), "Cannot write the firmware image", err.Error())
	}
}

// Read notices a bundle file or firmware image that was removed, or a token
// that expired, without writing anything: when the device has enrolled
// nothing is needed (the state stays, no change is planned); when it has
// not, the bundle is planned again, with a warning saying why.
func (r *bundleResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	ctx, end := startOp(ctx, "wasmbed_provisioning_bundle", "read")
	defer end(&resp.Diagnostics)
	var m bundleModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var why string
	for _, p := range []types.String{m.Path, m.FirmwareOutput} {
		if p.IsNull() {
			continue
		}
		if _, err := os.Stat(p.ValueString()); errors.Is(err, os.ErrNotExist) {
			why = p.ValueString() + " was removed"
			break
		}
	}
	if exp, err := time.Parse(time.RFC3339, m.TokenExpiresAt.ValueString()); why == "" && err == nil && time.Now().After(exp) {
		why = "its enrollment token " + m.TokenID.ValueString() + " expired at " + m.TokenExpiresAt.ValueString()
	}
	if why == "" {
		return // the usual case: no request to the gateway
	}
	name := m.Device.ValueString()
	dev, err := readDevice(ctx, r.backend, name)
	switch {
	case isNotFound(err):
		resp.State.RemoveResource(ctx)
		return
	case err != nil:
		apiError(&resp.Diagnostics, "Cannot read device "+name, err)
		return
	case enrolled(&dev):
		return // the device needs the bundle no more
	}
	resp.Diagnostics.AddWarning("Provisioning bundle of "+name+" planned again",
		fmt.Sprintf("The bundle of device %s: %s, and the device has not enrolled yet. Apply writes it again with a new enrollment token "+
			"(the device's earlier tokens are deleted). Once the device has enrolled, a removed bundle is no longer planned again.", name, why))
	resp.State.RemoveResource(ctx)
}

// reprovision reports whether plan asks to write the bundle again: a
// token_wo_version set or changed (removing it asks for nothing).
func reprovision(state, plan *bundleModel) bool {
	return !plan.TokenWOVersion.IsNull() && !plan.TokenWOVersion.Equal(state.TokenWOVersion)
}

// Update writes the bundle again with a new token when token_wo_version was
// set or changed (re-provisioning); otherwise (token_ttl_seconds, or
// token_wo_version removed) it only keeps the plan.
func (r *bundleResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	ctx, end := startOp(ctx, "wasmbed_provisioning_bundle", "update")
	defer end(&resp.Diagnostics)
	var m, st bundleModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &st)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if reprovision(&st, &m) {
		r.write(ctx, &m, req.Config, true, &resp.Diagnostics)
		if resp.Diagnostics.HasError() {
			return
		}
	} else {
		m.TokenID, m.TokenExpiresAt = st.TokenID, st.TokenExpiresAt
	}
	m.TokenWO = types.StringNull()
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// Delete removes the files and the token this resource minted.
func (r *bundleResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	ctx, end := startOp(ctx, "wasmbed_provisioning_bundle", "delete")
	defer end(&resp.Diagnostics)
	var m bundleModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	for _, p := range []types.String{m.Path, m.FirmwareOutput} {
		if p.IsNull() {
			continue
		}
		if err := os.Remove(p.ValueString()); err != nil && !errors.Is(err, os.ErrNotExist) {
			resp.Diagnostics.AddError("Cannot remove "+p.ValueString(), err.Error())
		}
	}
	if m.TokenID.ValueString() != "" {
		if err := deleteTokens(ctx, r.backend, m.Device.ValueString()); err != nil {
			apiError(&resp.Diagnostics, "Cannot delete the enrollment tokens of "+m.Device.ValueString(), err)
		}
	}
}

// tfsdkConfig is what write reads token_wo from (a request's Config).
type tfsdkConfig interface {
	GetAttribute(ctx context.Context, p path.Path, target any) diag.Diagnostics
}
