//! Loading a component: compiled (or read from the cache), its exported functions
//! listed as tasks, linked against WASI preview 2 once.

use std::collections::HashMap;
use std::sync::Arc;

use super::exports::{self, ComponentCode};
use crate::module::{Code, LoadError, ModuleInner, TaskModule};
use crate::runtime::Runtime;

impl Runtime {
    /// Loads the component `wasm` (already held to the compile budget) as a task module.
    pub(crate) fn load_component(
        &self,
        name: &str,
        hash: [u8; 32],
        wasm: &Arc<[u8]>,
    ) -> Result<TaskModule, LoadError> {
        let component = crate::cache::compile_component(self, name, &hash, wasm)?;
        let found = exports::list(&self.inner.component_engine, &component);
        if found.specs.is_empty() {
            let why = match found.uncallable.first() {
                Some(u) => format!(
                    "it exports no function that can be a task (`{}` {})",
                    u.name, u.reason
                ),
                None => "it exports no functions".to_owned(),
            };
            return Err(LoadError::Abi {
                name: name.to_owned(),
                reason: why,
            });
        }
        let pre = self
            .inner
            .component_linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link {
                name: name.to_owned(),
                reason: format!("{e:#}"),
            })?;
        let task_index = found
            .specs
            .iter()
            .enumerate()
            .map(|(index, t)| (t.name.clone(), index))
            .collect::<HashMap<_, _>>();
        Ok(TaskModule {
            inner: Arc::new(ModuleInner {
                name: name.to_owned(),
                hash,
                wasm: wasm.clone(),
                tasks: found.specs,
                task_index,
                has_manifest: true,
                code: Code::Component(ComponentCode {
                    pre,
                    instantiate_nanos: Default::default(),
                    tasks: found.tasks,
                    uncallable: found.uncallable,
                }),
            }),
        })
    }
}
