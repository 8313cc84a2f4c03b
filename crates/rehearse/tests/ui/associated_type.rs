#[rehearse::world]
pub trait World {
    type Error;
    fn get(&self) -> u8;
}

fn main() {}
