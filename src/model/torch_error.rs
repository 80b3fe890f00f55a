//! libtorch failures as errors: tch's infallible calls panic when libtorch throws (an
//! allocation that cannot succeed, a shape mismatch, CUDA out of memory). The command line
//! catches such a panic at the verb boundary and reports it as every other failure, `error:
//! ...` and exit 1; [`torch_message`] tells a libtorch failure from a bug.

/// The libtorch message inside a panic's text (tch's `Torch("...")` error, unwrapped), first
/// line only (libtorch appends a C++ backtrace); `None` for any other panic.
pub fn torch_message(panic: &str) -> Option<String> {
    let start = panic.find("Torch(\"")? + "Torch(\"".len();
    let inner = &panic[start..];
    let end = inner.rfind("\")").unwrap_or(inner.len());
    // The error is shown with Debug escapes: `\n` stands for a line break.
    let first = inner[..end].split("\\n").next().unwrap_or_default().trim();
    Some(first.replace("\\\"", "\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorch_failures_are_told_from_other_panics() {
        let panic = r#"called `Result::unwrap()` on an `Err` value: Torch("DefaultCPUAllocator: can't allocate memory: you tried to allocate 64 bytes.\nException raised from allocate at \"c10/core/impl/alloc_cpu.cpp\":119")"#;
        assert_eq!(
            torch_message(panic).unwrap(),
            "DefaultCPUAllocator: can't allocate memory: you tried to allocate 64 bytes."
        );
        assert_eq!(torch_message("index out of bounds: the len is 3"), None);
    }

    #[test]
    fn a_real_libtorch_failure_reads_as_its_message() {
        let caught = std::panic::catch_unwind(|| {
            tch::Tensor::zeros([2, 3], (tch::Kind::Float, tch::Device::Cpu)).view([4])
        });
        let payload = caught.unwrap_err();
        let text = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap();
        let message = torch_message(&text).unwrap();
        assert!(message.contains("shape '[4]' is invalid"), "{message}");
    }
}
