//! An ordered set of boot-loader variables.

/// Boot-loader variables in insertion order.
///
/// [`Env::set`] replaces an existing variable where it stands and appends a new one, which
/// is how `grub-editenv` edits a block. The U-Boot encoder sorts by name on write, as
/// U-Boot and `fw_setenv` do. Equality is order-sensitive; compare [`Env::sorted`] copies
/// for set equality.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env {
    vars: Vec<(String, String)>,
}

impl Env {
    /// An empty environment.
    pub fn new() -> Env {
        Env::default()
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name` to `value`; returns the previous value.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> Option<String> {
        let name = name.into();
        let value = value.into();
        match self.vars.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => Some(std::mem::replace(v, value)),
            None => {
                self.vars.push((name, value));
                None
            }
        }
    }

    /// Removes `name`; returns its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let index = self.vars.iter().position(|(n, _)| n == name)?;
        Some(self.vars.remove(index).1)
    }

    /// The variables in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of variables.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// True without variables.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// A copy sorted by name (byte order, as `strcmp`).
    pub fn sorted(&self) -> Env {
        let mut vars = self.vars.clone();
        vars.sort();
        Env { vars }
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Env {
        let mut env = Env::new();
        for (n, v) in iter {
            env.set(n, v);
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::Env;

    #[test]
    fn set_replaces_in_place_and_appends() {
        let mut env: Env = [("b", "1"), ("a", "2")].into_iter().collect();
        assert_eq!(env.set("b", "3"), Some("1".to_string()));
        assert_eq!(env.set("c", "4"), None);
        let order: Vec<_> = env.iter().collect();
        assert_eq!(order, [("b", "3"), ("a", "2"), ("c", "4")]);
        assert_eq!(env.remove("a"), Some("2".to_string()));
        assert_eq!(env.get("a"), None);
        assert_eq!(env.len(), 2);
        let sorted: Vec<_> = env.sorted().iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(sorted, ["b", "c"]);
    }
}
