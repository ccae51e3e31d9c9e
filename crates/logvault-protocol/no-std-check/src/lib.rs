//! A `no_std` consumer of logvault-protocol, built only to prove that the crate needs no std.
//!
//! The global allocator below never hands out memory: this library is compiled and linked,
//! never run. `unsafe` is unavoidable for `GlobalAlloc`; this crate is outside the workspace
//! and its `unsafe_code = "forbid"` lint.

#![no_std]

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};

use logvault_protocol::{DeviceKey, KeyGeneration, open, seal};

struct NoAlloc;

// SAFETY: returning null is always a valid answer of `alloc` (allocation failure).
unsafe impl GlobalAlloc for NoAlloc {
    unsafe fn alloc(&self, _layout: Layout) -> *mut u8 {
        core::ptr::null_mut()
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static ALLOCATOR: NoAlloc = NoAlloc;

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

/// Opens a sealed block and seals it again: pulls the whole codec and crypto into the link.
#[unsafe(no_mangle)]
pub extern "C" fn logvault_reseal(bytes: *const u8, len: usize) -> usize {
    if bytes.is_null() {
        return 0;
    }
    // SAFETY: the caller passes a valid buffer of `len` bytes.
    let input = unsafe { core::slice::from_raw_parts(bytes, len) };
    let key = DeviceKey::from_bytes([0; 16]);
    match open(input, &key) {
        Ok(block) => seal(&block, &key, KeyGeneration(0)).len(),
        Err(_) => 0,
    }
}
