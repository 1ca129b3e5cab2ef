package dev.outboxbridge.spring;

import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;
import org.springframework.aop.support.AopUtils;
import org.springframework.beans.BeansException;
import org.springframework.beans.factory.BeanFactory;
import org.springframework.beans.factory.BeanFactoryAware;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.beans.factory.config.ConfigurableBeanFactory;
import org.springframework.core.MethodIntrospector;
import org.springframework.core.annotation.AnnotatedElementUtils;

/**
 * Finds the {@link InboxListener} methods of every bean once it is initialized (on its target class, so proxies
 * are seen through), and once all singletons exist registers them in {@link InboxListeners} with the bean as the
 * context exposes it (its proxy, after every other post-processor), so {@code @Transactional} on a listener
 * method applies. Registration ends before the inbox consumers start (they start after the refresh). Listener
 * beans must be singletons the context creates at start-up (not lazy, not prototypes).
 */
final class InboxListenerBeanPostProcessor implements BeanPostProcessor, BeanFactoryAware, SmartInitializingSingleton {

    private final Supplier<InboxListeners> listeners;
    private final Map<String, Map<Method, InboxListener>> found = new LinkedHashMap<>();
    private ConfigurableBeanFactory beanFactory;

    /** @param listeners where to register them; resolved once all singletons exist */
    InboxListenerBeanPostProcessor(Supplier<InboxListeners> listeners) {
        this.listeners = listeners;
    }

    @Override
    public void setBeanFactory(BeanFactory beanFactory) {
        this.beanFactory = (ConfigurableBeanFactory) beanFactory;
    }

    @Override
    public Object postProcessAfterInitialization(Object bean, String beanName) throws BeansException {
        Class<?> target = AopUtils.getTargetClass(bean);
        Map<Method, InboxListener> annotated = MethodIntrospector.selectMethods(target,
                (MethodIntrospector.MetadataLookup<InboxListener>) method ->
                        AnnotatedElementUtils.findMergedAnnotation(method, InboxListener.class));
        if (!annotated.isEmpty()) {
            synchronized (found) {
                found.put(beanName, annotated);
            }
        }
        return bean;
    }

    @Override
    public void afterSingletonsInstantiated() {
        Map<String, Map<Method, InboxListener>> candidates;
        synchronized (found) {
            candidates = new LinkedHashMap<>(found);
            found.clear();
        }
        if (candidates.isEmpty()) {
            return;
        }
        InboxListeners registry = listeners.get();
        candidates.forEach((beanName, methods) -> {
            if (!beanFactory.containsBean(beanName) || !beanFactory.isSingleton(beanName)) {
                throw new IllegalStateException("@InboxListener methods on bean '" + beanName + "', which is not a "
                        + "singleton bean of the context (a prototype or an inner bean): declare it as a singleton");
            }
            Object bean = beanFactory.getBean(beanName);
            methods.forEach((method, annotation) -> {
                Method invocable = AopUtils.selectInvocableMethod(method, bean.getClass());
                String description = method.getDeclaringClass().getName() + "." + method.getName() + " (bean '"
                        + beanName + "')";
                registry.register(resolve(annotation.consumer()), resolve(annotation.eventType()),
                        Arrays.stream(annotation.topics()).map(this::resolve).toList(), bean, invocable, description);
            });
        });
    }

    private String resolve(String value) {
        String resolved = beanFactory.resolveEmbeddedValue(value);
        return resolved == null ? value : resolved;
    }
}
