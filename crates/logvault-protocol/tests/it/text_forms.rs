//! text_forms
