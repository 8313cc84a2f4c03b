#[rehearse::world]
pub trait World {
    fn get(&self, key: impl AsRef<str>) -> u8;
}

fn main() {}
