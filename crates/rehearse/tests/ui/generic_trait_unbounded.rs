// A generic world trait's own bounds must make its arguments `Serialize`
// (and its outputs `DeserializeOwned`): the recorder and the replayer are
// implemented for every `T` the trait allows.
#[rehearse::world]
pub trait World<T> {
    fn get(&self, key: T) -> u8;
}

fn main() {}
