pub struct NotSerde;

#[rehearse::world]
pub trait World {
    fn put(&self, value: NotSerde) -> bool;
}

fn main() {}
