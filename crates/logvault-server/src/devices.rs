//! The device model and settings: the logger a device is registered as, and its channels' limits.
//!
//! Registering a device with its key in custody is `app::devices`.

use logvault_store::Device;

/// The logger model a device is registered with: its channels (what each measures and the grid its values are
/// stored on, in thousandths of the unit), its memory (mode and capacity in samples) and its sampling interval. Blocks
/// must carry exactly these channels; values outside a channel's table never verify.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceModel {
    pub channels: Vec<ChannelModel>,
    pub memory: MemoryModel,
    pub interval_s: u32,
}

/// One channel: its quantity and resolution table (`lowest`, then `[step, upper]` per range).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelModel {
    pub quantity: QuantityName,
    pub lowest: i32,
    pub ranges: Vec<(u32, i32)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuantityName {
    Temperature,
    RelativeHumidity,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryModel {
    pub mode: MemoryMode,
    pub capacity: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemoryMode {
    OverwriteOldest,
    StopWhenFull,
}

impl DeviceModel {
    /// Checks the model: 1–16 channels with valid tables, a memory of at least one sample, an interval ≥ 1 s.
    pub fn validate(&self) -> Result<(), String> {
        if self.channels.is_empty() || self.channels.len() > logvault_protocol::MAX_CHANNELS {
            return Err(format!("a model has 1 to {} channels", logvault_protocol::MAX_CHANNELS));
        }
        for (index, channel) in self.channels.iter().enumerate() {
            channel.table().map_err(|err| format!("channel {index}: {err}"))?;
        }
        if self.memory.capacity == 0 || self.interval_s == 0 {
            return Err("memory capacity and sampling interval must be at least 1".to_owned());
        }
        Ok(())
    }

    /// Whether a block's channels are exactly this model's.
    pub fn matches(&self, channels: &[logvault_protocol::Channel]) -> bool {
        self.channels.len() == channels.len()
            && self.channels.iter().zip(channels).all(|(model, channel)| {
                model.quantity.protocol() == channel.quantity && model.table().is_ok_and(|t| t == channel.resolution)
            })
    }
}

impl ChannelModel {
    fn table(&self) -> Result<logvault_protocol::ResolutionTable, logvault_protocol::ResolutionError> {
        logvault_protocol::ResolutionTable::new(self.lowest, &self.ranges)
    }
}

impl QuantityName {
    fn protocol(self) -> logvault_protocol::Quantity {
        match self {
            QuantityName::Temperature => logvault_protocol::Quantity::Temperature,
            QuantityName::RelativeHumidity => logvault_protocol::Quantity::RelativeHumidity,
        }
    }
}

/// A device's settings: the alarm limits of its channels and the activation energy its MKT is computed with.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceSettings {
    /// Limits per channel index, in the channel's unit. A channel without an entry has no limits.
    #[serde(default)]
    pub limits: Vec<ChannelLimits>,
    /// ΔH for mean kinetic temperature, kJ/mol; USP <1160>'s 83.144 when absent.
    #[serde(default)]
    pub mkt_delta_h_kj_per_mol: Option<f64>,
}

/// The limits of one channel; either may be absent.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelLimits {
    pub channel: i32,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
}

impl DeviceSettings {
    /// The settings stored for `device` (defaults when none were set or the stored JSON no longer parses).
    pub fn of(device: &Device) -> DeviceSettings {
        device.settings.as_deref().and_then(|json| serde_json::from_str(json).ok()).unwrap_or_default()
    }

    /// Checks the settings: finite limits with lower below upper, one entry per channel of the device's layout, and
    /// a ΔH between 10 and 500 kJ/mol (what published activation energies of medicinal products span).
    pub fn validate(&self, n_channels: usize) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for limits in &self.limits {
            if usize::try_from(limits.channel).map_or(true, |channel| channel >= n_channels) {
                return Err(format!("channel {} is not one of the device's {n_channels} channels", limits.channel));
            }
            if !seen.insert(limits.channel) {
                return Err(format!("channel {} has two entries", limits.channel));
            }
            if limits.lower.is_some_and(|v| !v.is_finite()) || limits.upper.is_some_and(|v| !v.is_finite()) {
                return Err("limits must be finite numbers".to_owned());
            }
            if let (Some(lower), Some(upper)) = (limits.lower, limits.upper)
                && lower >= upper
            {
                return Err(format!("channel {}: the lower limit must be below the upper", limits.channel));
            }
        }
        if let Some(delta_h) = self.mkt_delta_h_kj_per_mol
            && !(10.0..=500.0).contains(&delta_h)
        {
            return Err("mkt_delta_h_kj_per_mol must be between 10 and 500".to_owned());
        }
        Ok(())
    }

    /// The limits of `channel`: `(lower, upper)`.
    pub fn limits_of(&self, channel: i32) -> (Option<f64>, Option<f64>) {
        self.limits.iter().find(|limits| limits.channel == channel).map_or((None, None), |l| (l.lower, l.upper))
    }

    pub fn mkt_delta_h(&self) -> f64 {
        self.mkt_delta_h_kj_per_mol.unwrap_or(logvault_core::stats::DEFAULT_DELTA_H_KJ_PER_MOL)
    }
}

/// The channels of a device: from its logger model, else from the layout its first block set.
pub fn channel_quantities(device: &Device) -> Vec<String> {
    if let Some(model) = device.model.as_deref().and_then(|json| serde_json::from_str::<DeviceModel>(json).ok()) {
        return model
            .channels
            .iter()
            .map(|channel| match channel.quantity {
                QuantityName::Temperature => "temperature".to_owned(),
                QuantityName::RelativeHumidity => "relative_humidity".to_owned(),
            })
            .collect();
    }
    device.channel_layout.as_deref().map(|layout| layout.split(',').map(str::to_owned).collect()).unwrap_or_default()
}

/// The display unit of a quantity name.
pub fn unit_of(quantity: &str) -> &'static str {
    match quantity {
        "temperature" => logvault_protocol::Quantity::Temperature.unit(),
        "relative_humidity" => logvault_protocol::Quantity::RelativeHumidity.unit(),
        _ => "",
    }
}
