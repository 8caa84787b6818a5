//! `scheduler.tags.*`.

use super::Call;
use crate::fault::Fault;
use crate::value::{StructBuilder, Value};
use lava_lab::LabError;

pub(super) async fn add(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(2)?;
    let name = p.string(0, "name")?;
    let description = p.opt_string(1, "description")?.unwrap_or_default();
    call.require("add_tag")?;
    if name.trim().is_empty() {
        return Err(Fault::bad_request("Bad request: the tag name is empty"));
    }
    match call.lab.add_tag(&name, &description).await {
        Ok(_) => Ok(Value::Nil),
        Err(LabError::AlreadyExists(_)) => {
            Err(Fault::bad_request("Bad request: tag already exists?"))
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn list(call: &Call<'_>) -> Result<Value, Fault> {
    call.params.at_most(0)?;
    let tags = call.lab.tags().await?;
    Ok(Value::Array(
        tags.iter()
            .map(|t| {
                StructBuilder::new()
                    .field("name", Value::str(&t.name))
                    .field("description", Value::text_or_nil(&t.description))
                    .build()
            })
            .collect(),
    ))
}
