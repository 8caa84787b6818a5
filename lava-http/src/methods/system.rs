//! `system.*`: version, identity and introspection. Anonymous calls are allowed.

use super::{Call, LAVA_VERSION, METHODS};
use crate::fault::Fault;
use crate::value::Value;

pub(super) fn version(call: &Call<'_>) -> Result<Value, Fault> {
    call.params.at_most(0)?;
    Ok(Value::str(LAVA_VERSION))
}

pub(super) fn api_version(call: &Call<'_>) -> Result<Value, Fault> {
    call.params.at_most(0)?;
    Ok(Value::Int(2))
}

pub(super) fn whoami(call: &Call<'_>) -> Result<Value, Fault> {
    call.params.at_most(0)?;
    Ok(Value::opt_str(
        call.user.as_ref().map(|u| u.username.clone()),
    ))
}

pub(super) fn list_methods(call: &Call<'_>) -> Result<Value, Fault> {
    call.params.at_most(0)?;
    Ok(Value::str_array(METHODS.iter().map(|(name, _)| *name)))
}

pub(super) fn method_help(call: &Call<'_>) -> Result<Value, Fault> {
    call.params.at_most(1)?;
    let name = call.params.string(0, "method_name")?;
    // LAVA answers an empty string for unknown methods.
    let help = METHODS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, help)| *help);
    Ok(Value::str(help))
}
