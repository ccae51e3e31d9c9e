//! Devices, their key custody and settings, and the manufacturing flow (upload, claim).
//!
//! The trait, then the one body of each query, expanded for each engine by [`{mac}`] (see [`crate::queries`]).

use super::imports::*;

/// Devices, their key custody and settings, and the manufacturing flow (upload, claim).
#[async_trait::async_trait]
pub trait DeviceStore: Send + Sync {
    /// Registers a device with its first key, in one transaction. `Conflict` for a serial already registered
    /// (anywhere); `NotFound` for a site that is not the organisation's, or — for a site-scoped scope — not its site
    /// (a site-scoped caller's device goes to their site when none is given).
    async fn create_device(&self, scope: &OrgScope, device: NewDevice) -> Result<Device, StoreError>;

    /// The scope's devices (a site-scoped scope: that site's only), by serial.
    async fn devices(&self, scope: &OrgScope) -> Result<Vec<Device>, StoreError>;

    /// One device of the scope; `NotFound` for another organisation's or another site's.
    async fn device(&self, scope: &OrgScope, serial: &str) -> Result<Device, StoreError>;

    /// A device's sealed keys by generation (for emergency export and rotation).
    async fn device_keys(&self, scope: &OrgScope, device_id: i64) -> Result<Vec<SealedKey>, StoreError>;

    /// Adds a key generation to one of the scope's devices; `Conflict` if that generation exists (a concurrent
    /// rotation), `NotFound` if the device is not the scope's.
    async fn add_device_key(
        &self,
        scope: &OrgScope,
        device_id: i64,
        generation: u8,
        key_sealed: &[u8],
        now_us: i64,
    ) -> Result<(), StoreError>;

    async fn create_manufacturer_token(
        &self,
        name: &str,
        token_hash: &[u8; 32],
        now_us: i64,
        expires_at_us: i64,
    ) -> Result<ManufacturerToken, StoreError>;

    async fn manufacturer_token_by_hash(&self, token_hash: &[u8; 32]) -> Result<ManufacturerToken, StoreError>;

    /// Stores uploaded loggers in one transaction; `Conflict` (nothing stored) if any serial is registered or
    /// uploaded already.
    async fn upload_devices(&self, token_id: i64, devices: &[UnclaimedDevice], now_us: i64) -> Result<(), StoreError>;

    async fn unclaimed_device(&self, serial: &str) -> Result<Option<UnclaimedDevice>, StoreError>;

    /// Moves an uploaded logger into the scope's organisation in one transaction: registers it with `device`'s key
    /// (already re-sealed for the organisation) and forgets the upload — only if the upload is still there with this
    /// claim code hash (`NotFound` otherwise, nothing changed).
    async fn claim_device(
        &self,
        scope: &OrgScope,
        claim_code_hash: &[u8; 32],
        device: NewDevice,
    ) -> Result<Device, StoreError>;

    /// The organisation a serial is registered to. Unscoped: it only routes a request for `/devices/{serial}` to the
    /// organisation whose membership is then checked.
    async fn device_org(&self, serial: &str) -> Result<Option<i64>, StoreError>;

    /// Every device, for verification (operator only: no scope).
    async fn all_devices(&self) -> Result<Vec<Device>, StoreError>;

    /// Replaces the settings (JSON) of one of the scope's devices; `NotFound` for another organisation's or site's.
    async fn set_device_settings(&self, scope: &OrgScope, device_id: i64, settings: &str) -> Result<(), StoreError>;
}

/// Implements [`DeviceStore`] for one engine's store; the engine supplies its hooks (see [`crate::queries`]).
macro_rules! device_store {
    ($S:ty, $DB:ty, $for_update:literal) => {
        #[async_trait::async_trait]
        impl $crate::queries::devices::DeviceStore for $S {
            async fn create_device(&self, scope: &OrgScope, device: NewDevice) -> Result<Device, StoreError> {
                let mut tx = self.begin_write().await?;
                let created = insert_device(&mut tx, scope, device).await?;
                tx.commit().await?;
                Ok(created)
            }

            async fn devices(&self, scope: &OrgScope) -> Result<Vec<Device>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, serial, org_id, name, site_id, channel_layout, model, settings, created_at_us FROM devices \
                     WHERE org_id = $1 AND ($2 IS NULL OR site_id = $3) ORDER BY serial",
                )
                .bind_scope(scope)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(device_from_row).collect()
            }

            async fn device(&self, scope: &OrgScope, serial: &str) -> Result<Device, StoreError> {
                let row = sqlx::query(
                    "SELECT id, serial, org_id, name, site_id, channel_layout, model, settings, created_at_us FROM devices \
                     WHERE serial = $1 AND org_id = $2 AND ($3 IS NULL OR site_id = $4)",
                )
                .bind(serial)
                .bind_scope(scope)
                .fetch_one(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("device", err))?;
                device_from_row(&row)
            }

            async fn device_keys(&self, scope: &OrgScope, device_id: i64) -> Result<Vec<SealedKey>, StoreError> {
                let rows = sqlx::query(
                    "SELECT k.generation, k.key_sealed FROM device_keys k JOIN devices d ON d.id = k.device_id \
                     WHERE k.device_id = $1 AND d.org_id = $2 AND ($3 IS NULL OR d.site_id = $4) ORDER BY k.generation",
                )
                .bind(device_id)
                .bind_scope(scope)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|row| sealed_key(row.try_get("generation")?, row.try_get("key_sealed")?)).collect()
            }

            async fn add_device_key(
                &self,
                scope: &OrgScope,
                device_id: i64,
                generation: u8,
                key_sealed: &[u8],
                now_us: i64,
            ) -> Result<(), StoreError> {
                let done = sqlx::query(
                    "INSERT INTO device_keys (device_id, generation, key_sealed, created_at_us) \
                     SELECT id, $1, $2, $3 FROM devices WHERE id = $4 AND org_id = $5 AND ($6 IS NULL OR site_id = $7)",
                )
                .bind(i64::from(generation))
                .bind(key_sealed)
                .bind(now_us)
                .bind(device_id)
                .bind_scope(scope)
                .execute(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("device key", err))?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound { entity: "device" });
                }
                Ok(())
            }

            async fn create_manufacturer_token(
                &self,
                name: &str,
                token_hash: &[u8; 32],
                now_us: i64,
                expires_at_us: i64,
            ) -> Result<ManufacturerToken, StoreError> {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO manufacturer_tokens (name, token_hash, created_at_us, expires_at_us) VALUES ($1, $2, $3, $4) \
                     RETURNING id",
                )
                .bind(name)
                .bind(token_hash.as_slice())
                .bind(now_us)
                .bind(expires_at_us)
                .fetch_one(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("manufacturer token", err))?;
                Ok(ManufacturerToken { id, name: name.to_owned(), expires_at_us, revoked: false })
            }

            async fn manufacturer_token_by_hash(&self, token_hash: &[u8; 32]) -> Result<ManufacturerToken, StoreError> {
                let row = sqlx::query("SELECT id, name, expires_at_us, revoked FROM manufacturer_tokens WHERE token_hash = $1")
                    .bind(token_hash.as_slice())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|err| StoreError::from_sqlx("manufacturer token", err))?;
                Ok(ManufacturerToken {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    expires_at_us: row.try_get("expires_at_us")?,
                    revoked: row.try_get("revoked")?,
                })
            }

            async fn upload_devices(&self, token_id: i64, devices: &[UnclaimedDevice], now_us: i64) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                for device in devices {
                    let registered: Option<i64> = sqlx::query_scalar("SELECT id FROM devices WHERE lower(serial) = lower($1)")
                        .bind(&device.serial)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if registered.is_some() {
                        return Err(StoreError::Conflict { entity: "device" });
                    }
                    sqlx::query(
                        "INSERT INTO unclaimed_devices (serial, key_sealed, claim_code_hash, token_id, uploaded_at_us) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&device.serial)
                    .bind(&device.key_sealed)
                    .bind(device.claim_code_hash.as_slice())
                    .bind(token_id)
                    .bind(now_us)
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| StoreError::from_sqlx("device", err))?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn unclaimed_device(&self, serial: &str) -> Result<Option<UnclaimedDevice>, StoreError> {
                let row = sqlx::query("SELECT serial, key_sealed, claim_code_hash FROM unclaimed_devices WHERE serial = $1")
                    .bind(serial)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|row| {
                    Ok(UnclaimedDevice {
                        serial: row.try_get("serial")?,
                        key_sealed: row.try_get("key_sealed")?,
                        claim_code_hash: hash32(row.try_get("claim_code_hash")?)?,
                    })
                })
                .transpose()
            }

            async fn claim_device(
                &self,
                scope: &OrgScope,
                claim_code_hash: &[u8; 32],
                device: NewDevice,
            ) -> Result<Device, StoreError> {
                let mut tx = self.begin_write().await?;
                let removed = sqlx::query("DELETE FROM unclaimed_devices WHERE serial = $1 AND claim_code_hash = $2")
                    .bind(&device.serial)
                    .bind(claim_code_hash.as_slice())
                    .execute(&mut *tx)
                    .await?;
                if removed.rows_affected() != 1 {
                    return Err(StoreError::NotFound { entity: "unclaimed device" });
                }
                let created = insert_device(&mut tx, scope, device).await?;
                tx.commit().await?;
                Ok(created)
            }

            async fn device_org(&self, serial: &str) -> Result<Option<i64>, StoreError> {
                Ok(sqlx::query_scalar("SELECT org_id FROM devices WHERE serial = $1")
                    .bind(serial)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn all_devices(&self) -> Result<Vec<Device>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, serial, org_id, name, site_id, channel_layout, model, settings, created_at_us FROM devices ORDER BY serial",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(device_from_row).collect()
            }

            async fn set_device_settings(&self, scope: &OrgScope, device_id: i64, settings: &str) -> Result<(), StoreError> {
                let result = sqlx::query(
                    "UPDATE devices SET settings = $1 WHERE id = $2 AND org_id = $3 AND ($4 IS NULL OR site_id = $5)",
                )
                .bind(settings)
                .bind(device_id)
                .bind_scope(scope)
                .execute(&self.pool)
                .await?;
                if result.rows_affected() == 0 {
                    return Err(StoreError::NotFound { entity: "device" });
                }
                Ok(())
            }
        }

        fn device_from_row(row: &<$DB as sqlx::Database>::Row) -> Result<Device, StoreError> {
            Ok(Device {
                id: row.try_get("id")?,
                serial: row.try_get("serial")?,
                org_id: row.try_get("org_id")?,
                name: row.try_get("name")?,
                site_id: row.try_get("site_id")?,
                channel_layout: row.try_get("channel_layout")?,
                model: row.try_get("model")?,
                settings: row.try_get("settings")?,
                created_at_us: row.try_get("created_at_us")?,
            })
        }

        /// Registers a device with its first key inside `tx`. A serial already registered, or uploaded by a manufacturer and
        /// not claimed yet, is a `Conflict`.
        async fn insert_device(
            tx: &mut sqlx::Transaction<'_, $DB>,
            scope: &OrgScope,
            device: NewDevice,
        ) -> Result<Device, StoreError> {
            let site_id = match (scope.site_id(), device.site_id) {
                (Some(own), Some(asked)) if own != asked => return Err(StoreError::NotFound { entity: "site" }),
                (Some(own), _) => Some(own),
                (None, asked) => asked,
            };
            let uploaded: Option<String> = sqlx::query_scalar("SELECT serial FROM unclaimed_devices WHERE lower(serial) = lower($1)")
                .bind(&device.serial)
                .fetch_optional(&mut **tx)
                .await?;
            if uploaded.is_some() {
                return Err(StoreError::Conflict { entity: "device" });
            }
            if let Some(site_id) = site_id {
                let found: Option<i64> = sqlx::query_scalar("SELECT id FROM sites WHERE id = $1 AND org_id = $2")
                    .bind(site_id)
                    .bind(scope.org_id())
                    .fetch_optional(&mut **tx)
                    .await?;
                if found.is_none() {
                    return Err(StoreError::NotFound { entity: "site" });
                }
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO devices (serial, org_id, name, site_id, created_at_us, model) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(&device.serial)
            .bind(scope.org_id())
            .bind(&device.name)
            .bind(site_id)
            .bind(device.now_us)
            .bind(&device.model)
            .fetch_one(&mut **tx)
            .await
            .map_err(|err| StoreError::from_sqlx("device", err))?;
            sqlx::query("INSERT INTO device_keys (device_id, generation, key_sealed, created_at_us) VALUES ($1, 0, $2, $3)")
                .bind(id)
                .bind(&device.key_sealed)
                .bind(device.now_us)
                .execute(&mut **tx)
                .await?;
            Ok(Device {
                id,
                serial: device.serial,
                org_id: scope.org_id(),
                name: device.name,
                site_id,
                channel_layout: None,
                model: device.model,
                settings: None,
                created_at_us: device.now_us,
            })
        }
    };
}
pub(crate) use device_store;
