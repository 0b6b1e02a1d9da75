//! Function definitions from an AWS SAM template.
