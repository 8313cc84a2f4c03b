#[rehearse::world]
pub trait World {
    fn login(&self, #[rehearse(secret)] password: String) -> bool;
}

fn main() {}
