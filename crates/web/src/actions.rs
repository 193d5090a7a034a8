//! What the dashboard changes, shared by the HTML forms and the JSON API: host mappings,
//! aliases, images and services.
//!
//! **Invariant:** every successful change of hosts or aliases is followed by
//! [`crate::Control::reload`] and every change is recorded as an event with the caller's origin;
//! a refused change leaves the store and the TFTP root as they were.

use std::net::Ipv4Addr;
use std::path::Path;

use axum::body::Body;
use lifeboat_store::{BootProfile, EventKind, Host, HostEntry};

use crate::api_key;
use crate::boot_profile_input::{self, BootProfileInput};
use crate::control::{AddressClaim, ClaimedAddressView, Service};
use crate::digests;
use crate::error::{AppError, FieldError};
use crate::guard::Caller;
use crate::host_input::{HostInput, ImageCheck, validate};
use crate::images::{self, Uploaded};
use crate::state::WebState;

fn describe(entry: &HostEntry) -> String {
    let mut text = entry.mac.clone();
    if let Some(name) = &entry.name {
        text.push_str(&format!(" ({name})"));
    }
    if let Some(address) = entry.address {
        text.push_str(&format!(", address {address}"));
    }
    if let Some(image) = &entry.image {
        text.push_str(&format!(", image {image}"));
    }
    if !entry.names.is_empty() {
        text.push_str(&format!(", names {}", entry.names.join(" ")));
    }
    text
}

/// Refuse a host whose reservation would never be used or would clash: what the running
/// lifeboat knows ([`crate::Control::reservation_conflicts`]) and another host of the dashboard
/// with the same address (`id`: the host being changed, which may keep its own).
async fn check_reservation(state: &WebState, entry: &HostEntry, id: Option<i64>) -> Result<(), AppError> {
    let mut fields: Vec<FieldError> = state
        .control()
        .reservation_conflicts(&entry.mac, entry.address)
        .into_iter()
        .map(|(field, message)| FieldError { field: field.into(), message })
        .collect();
    if let Some(address) = entry.address {
        let hosts = state.store().hosts().await?;
        if let Some(other) = hosts.iter().find(|h| h.entry.address == Some(address) && Some(h.id) != id) {
            let message = format!("{address} is already reserved for {} on this dashboard", other.entry.mac);
            fields.push(FieldError { field: "address".into(), message });
        }
    }
    if fields.is_empty() { Ok(()) } else { Err(AppError::Invalid(fields)) }
}

/// Where a host's image is looked for: in this lifeboat's TFTP root, or, when it shares its
/// database with a fleet, on the instance that serves the host (not checked from here).
fn image_check(state: &WebState) -> ImageCheck<'_> {
    if state.store().is_shared() { ImageCheck::Fleet } else { ImageCheck::Root(state.config().tftp_root.as_deref()) }
}

/// Check `input` and add it as a new host.
pub(crate) async fn add_host(state: &WebState, caller: &Caller, input: &HostInput) -> Result<Host, AppError> {
    let entry = validate(input, image_check(state)).map_err(AppError::Invalid)?;
    check_reservation(state, &entry, None).await?;
    let host = state.store().insert_host(&entry).await?;
    state.record(EventKind::HostAdded, &caller.origin, describe(&entry));
    state.control().reload();
    Ok(host)
}

/// Check `input` and make it host `id`.
pub(crate) async fn update_host(
    state: &WebState,
    caller: &Caller,
    id: i64,
    input: &HostInput,
) -> Result<Host, AppError> {
    let entry = validate(input, image_check(state)).map_err(AppError::Invalid)?;
    check_reservation(state, &entry, Some(id)).await?;
    let host = state.store().update_host(id, &entry).await?.ok_or_else(|| no_host(id))?;
    state.record(EventKind::HostChanged, &caller.origin, describe(&entry));
    state.control().reload();
    Ok(host)
}

/// Delete host `id`.
pub(crate) async fn delete_host(state: &WebState, caller: &Caller, id: i64) -> Result<(), AppError> {
    let host = state.store().host(id).await?.ok_or_else(|| no_host(id))?;
    if !state.store().delete_host(id).await? {
        return Err(no_host(id));
    }
    state.record(EventKind::HostDeleted, &caller.origin, describe(&host.entry));
    state.control().reload();
    Ok(())
}

pub(crate) fn no_host(id: i64) -> AppError {
    AppError::NotFound(format!("there is no host {id}; it may have been deleted"))
}

/// Check `input` and save it as the boot profile of its name (new, or replacing the old).
pub(crate) async fn save_boot_profile(
    state: &WebState,
    caller: &Caller,
    input: &BootProfileInput,
) -> Result<BootProfile, AppError> {
    let entry = boot_profile_input::validate(input, state.config().tftp_root.as_deref()).map_err(AppError::Invalid)?;
    let profile = state.store().save_boot_profile(&entry).await?;
    let what = match &entry.kernel {
        Some(kernel) => format!("{}: kernel {kernel}, {} initrd(s)", entry.name, entry.initrds.len()),
        None => format!("{}: an iPXE script", entry.name),
    };
    state.record(EventKind::BootProfileSaved, &caller.origin, what);
    state.control().reload();
    Ok(profile)
}

/// Delete the boot profile `name` (refused while a host boots it).
pub(crate) async fn delete_boot_profile(state: &WebState, caller: &Caller, name: &str) -> Result<(), AppError> {
    if !state.store().delete_boot_profile(name).await? {
        return Err(AppError::NotFound(format!("there is no boot profile {name:?}; it may have been deleted")));
    }
    state.record(EventKind::BootProfileDeleted, &caller.origin, name.to_owned());
    state.control().reload();
    Ok(())
}

/// Serve the existing image `file` to any client that asks for `name`.
pub(crate) async fn add_alias(state: &WebState, caller: &Caller, name: &str, file: &str) -> Result<(), AppError> {
    let name = images::normalize_name(name.trim()).map_err(|why| AppError::field("name", why))?;
    let file = images::normalize_name(file.trim()).map_err(|why| AppError::field("file", why))?;
    // Names are compared without case, as devices ask for them.
    if let Some(theirs) = state.control().configured_aliases().iter().find(|a| a.name.eq_ignore_ascii_case(&name)) {
        let message = format!("{name} is already an alias of the configuration (for {}): change it there", theirs.file);
        return Err(AppError::field("name", message));
    }
    let root = images::root(state.config().tftp_root.as_deref())?;
    images::existing(root, &file).map_err(|e| match e {
        AppError::Internal(_) => e,
        e => AppError::field("file", e.message()),
    })?;
    state.store().set_alias(&name, &file).await?;
    state.record(EventKind::AliasAdded, &caller.origin, format!("{name} → {file}"));
    state.control().reload();
    Ok(())
}

/// Forget the DHCP lease on `address` (the event is recorded by the application, which knows
/// whose lease it was).
pub(crate) async fn release_lease(state: &WebState, caller: &Caller, address: Ipv4Addr) -> Result<(), AppError> {
    if state.control().release_lease(address, caller.origin.clone()).await? {
        Ok(())
    } else {
        Err(AppError::NotFound(format!("no lease on {address}")))
    }
}

/// Take an address on an interface (the event is recorded by the application); what is held.
pub(crate) async fn claim_address(
    state: &WebState,
    caller: &Caller,
    claim: AddressClaim,
) -> Result<ClaimedAddressView, AppError> {
    let address = claim.address;
    state.control().claim_address(claim, caller.origin.clone()).await?;
    let held = state.control().claimed_addresses().await;
    held.into_iter()
        .find(|h| h.address == address)
        .ok_or_else(|| AppError::Internal(format!("{address} was claimed but is not held")))
}

/// Start a recovery with an image of the TFTP root.
pub(crate) async fn start_recovery(
    state: &WebState,
    caller: &Caller,
    request: crate::recovery::RecoveryRequest,
) -> Result<(), AppError> {
    let listed = crate::digests::list_images(state).await?;
    if !listed.iter().any(|i| i.file.file == request.image) {
        return Err(AppError::field(
            "image",
            format!("{:?} is not a file of the TFTP root: upload it first", request.image),
        ));
    }
    Ok(state.control().start_recovery(request, caller.origin.clone()).await?)
}

/// Give back an address lifeboat holds.
pub(crate) async fn release_address(state: &WebState, caller: &Caller, address: Ipv4Addr) -> Result<(), AppError> {
    if state.control().release_address(address, caller.origin.clone()).await? {
        Ok(())
    } else {
        Err(AppError::NotFound(format!("lifeboat holds no address {address}")))
    }
}

/// Stop serving an image under `name`.
pub(crate) async fn delete_alias(state: &WebState, caller: &Caller, name: &str) -> Result<(), AppError> {
    if !state.store().delete_alias(name).await? {
        return Err(AppError::NotFound(format!("there is no alias {name:?}")));
    }
    state.record(EventKind::AliasDeleted, &caller.origin, name.to_owned());
    state.control().reload();
    Ok(())
}

/// Store `body` as the image `name`; `declared` is the request's `Content-Length`.
pub(crate) async fn upload_image(
    state: &WebState,
    caller: &Caller,
    name: &str,
    declared: Option<u64>,
    body: Body,
) -> Result<Uploaded, AppError> {
    let file = images::normalize_name(name).map_err(|why| AppError::field("name", why))?;
    let max = state.config().max_upload;
    if declared.is_some_and(|len| len > max) {
        return Err(AppError::TooLarge(format!("{file:?} is larger than the upload limit of {max} bytes")));
    }
    let root = images::root(state.config().tftp_root.as_deref())?;
    let control = state.control();
    let uploaded = images::upload(root, &file, body, max, |f| control.file_in_use(Path::new(f))).await?;
    digests::save_uploaded(state, &uploaded).await?;
    let verb = if uploaded.replaced { "replaced" } else { "uploaded" };
    state.record(
        EventKind::ImageUploaded,
        &caller.origin,
        format!("{file} {verb}, {} bytes, sha256 {}", uploaded.file.size, uploaded.sha256),
    );
    Ok(uploaded)
}

/// Delete the image `name`, unless a transfer uses it.
pub(crate) async fn delete_image(state: &WebState, caller: &Caller, name: &str) -> Result<String, AppError> {
    let file = images::normalize_name(name).map_err(|why| AppError::field("name", why))?;
    let root = images::root(state.config().tftp_root.as_deref())?;
    if state.control().file_in_use(Path::new(&file)) {
        return Err(AppError::Conflict(format!("{file:?} is being transferred right now; try again when it ends")));
    }
    images::delete(root, &file)?;
    state.store().forget_image(&file).await?;
    state.record(EventKind::ImageDeleted, &caller.origin, file.clone());
    Ok(file)
}

/// Arm the image `name` for a recovery (it must be a file of the TFTP root): a device asking
/// for a file that does not exist gets it. The application records the event.
pub(crate) async fn arm_image(state: &WebState, caller: &Caller, name: &str) -> Result<String, AppError> {
    let file = images::normalize_name(name).map_err(|why| AppError::field("file", why))?;
    let root = images::root(state.config().tftp_root.as_deref())?.to_path_buf();
    let listed = tokio::task::spawn_blocking(move || images::list(&root))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|e| AppError::Internal(format!("cannot list the TFTP root: {e}")))?;
    if !listed.iter().any(|image| image.file == file) {
        return Err(AppError::field("file", format!("there is no image {file:?} in the TFTP root")));
    }
    state.control().arm_image(Some(file.clone()), caller.origin.clone());
    Ok(file)
}

/// Disarm the armed image, if any.
pub(crate) fn disarm_image(state: &WebState, caller: &Caller) -> Result<(), AppError> {
    if state.control().armed_image().is_none() {
        return Err(AppError::NotFound("no image is armed".into()));
    }
    state.control().arm_image(None, caller.origin.clone());
    Ok(())
}

/// Start or stop `service` (the service records the event).
pub(crate) async fn switch_service(
    state: &WebState,
    caller: &Caller,
    service: Service,
    run: bool,
) -> Result<(), AppError> {
    let origin = caller.origin.clone();
    if run {
        state.control().start(service, origin).await?;
    } else {
        state.control().stop(service, origin).await?;
    }
    Ok(())
}

/// A new API key in place of any other; the key, to be shown once.
pub(crate) async fn create_api_key(state: &WebState, caller: &Caller) -> Result<String, AppError> {
    let key = api_key::create(state).await?;
    state.record(EventKind::ApiKeyCreated, &caller.origin, "a new API key replaces any earlier one".into());
    Ok(key)
}

/// Forget the API key.
pub(crate) async fn revoke_api_key(state: &WebState, caller: &Caller) -> Result<(), AppError> {
    if !api_key::revoke(state).await? {
        return Err(AppError::NotFound("there is no API key".into()));
    }
    state.record(EventKind::ApiKeyRevoked, &caller.origin, "the API key was revoked".into());
    Ok(())
}
