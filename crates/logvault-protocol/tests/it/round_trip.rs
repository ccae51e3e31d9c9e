//! Round trips: whatever block is sealed opens to exactly the same block.

use logvault_protocol::{KeyGeneration, encode_plaintext, open, seal};

use crate::fixtures::{fridge_block, key};

#[test]
fn a_sealed_fridge_series_opens_to_the_same_block() {
    for (n, humidity) in [
        (0, false),
        (1, false),
        (2, true),
        (1500, false),
        (1500, true),
    ] {
        let block = fridge_block(n, 300, humidity, 1);
        let sealed = seal(&block, &key(), KeyGeneration(0));
        let opened = open(&sealed, &key());
        assert_eq!(opened.as_ref(), Ok(&block), "n={n} humidity={humidity}");
        let plain = encode_plaintext(&block).len();
        eprintln!(
            "n={n} humidity={humidity} plaintext={plain} sealed={} bytes/sample={:.3}",
            sealed.len(),
            plain as f64 / n.max(1) as f64
        );
    }
}
