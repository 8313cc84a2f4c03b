#[rehearse::world]
pub trait World {
    fn get<T: serde::Serialize>(&self, key: T) -> u8;
}

fn main() {}
