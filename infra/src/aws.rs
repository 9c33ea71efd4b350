//! AWS clients. Region and credentials come from the usual places (environment,
//! profile, instance role); `AWS_ENDPOINT_URL` points every client elsewhere
//! (a moto server in tests).

use anyhow::bail;

pub async fn config() -> anyhow::Result<aws_config::SdkConfig> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    if config.region().is_none() {
        bail!("no AWS region: set AWS_REGION (Route53 is global, but the SDK still needs one)");
    }
    Ok(config)
}

/// `terraform output -json` of an environment (terraform/envs/*): the names
/// `tweetgen-infra` reads, each `{"value": …}`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct TerraformOutputs {
    pub zone_id: Option<Output<String>>,
    pub record_name: Option<Output<String>>,
    pub record_ttl_seconds: Option<Output<i64>>,
    pub alb_dns_name: Option<Output<String>>,
    pub alb_zone_id: Option<Output<String>>,
    pub rds_instance_id: Option<Output<String>>,
    /// The names the servers' configurations give the new database and the old
    /// one (`database.name`, `database.others`): what control records say.
    pub database_name: Option<Output<String>>,
    pub old_database_name: Option<Output<String>>,
}

#[derive(Debug, serde::Deserialize)]
pub struct Output<T> {
    pub value: T,
}

impl TerraformOutputs {
    pub fn read(path: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let Some(path) = path else { return Ok(Self::default()) };
        let text = std::fs::read_to_string(path)
            .map_err(|error| anyhow::anyhow!("reading terraform outputs {}: {error}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|error| anyhow::anyhow!("{} is not `terraform output -json`: {error}", path.display()))
    }
}

/// An option given on the command line, else from Terraform's outputs.
pub fn pick<T: Clone>(given: &Option<T>, output: &Option<Output<T>>) -> Option<T> {
    given.clone().or_else(|| output.as_ref().map(|output| output.value.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terraform_outputs_fill_what_the_command_line_leaves_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outputs.json");
        std::fs::write(
            &path,
            r#"{"zone_id": {"sensitive": false, "type": "string", "value": "Z123"},
                "record_ttl_seconds": {"value": 60}, "asg_name": {"value": "ignored"}}"#,
        )
        .unwrap();
        let outputs = TerraformOutputs::read(Some(&path)).unwrap();
        assert_eq!(pick(&None, &outputs.zone_id).as_deref(), Some("Z123"));
        assert_eq!(pick(&Some("Zmine".to_string()), &outputs.zone_id).as_deref(), Some("Zmine"));
        assert_eq!(pick(&None, &outputs.record_ttl_seconds), Some(60));
        assert_eq!(pick(&None, &outputs.record_name), None);
        std::fs::write(&path, "not json").unwrap();
        assert!(TerraformOutputs::read(Some(&path)).unwrap_err().to_string().contains("terraform output -json"));
    }
}
