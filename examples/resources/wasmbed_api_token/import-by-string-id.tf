# An existing API token, by name. Its secret is not imported (the gateway
# does not keep it): `token` stays null until the next rotation.
import {
  to = wasmbed_api_token.ci
  id = "ci-deployer"
}
