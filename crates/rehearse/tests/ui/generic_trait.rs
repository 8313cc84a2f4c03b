#[rehearse::world]
pub trait World<T> {
    fn get(&self, key: T) -> u8;
}

fn main() {}
